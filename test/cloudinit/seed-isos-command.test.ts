import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { openSshPrivateKey, generateEd25519, openSshPublicKey } from '../../src/ssh/keypair.js';
import { shippedClusterYaml, tempDir } from './fixtures.js';

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

async function seedIsos(cwd: string, args: string[]) {
  const out = capture();
  const err = capture();
  const code = await main(['seed-isos', ...args], { stdout: out.stream, stderr: err.stream, env: {}, cwd });
  return { code, stdout: out.text(), stderr: err.text() };
}

function labFolder(): string {
  const dir = tempDir('seed-cmd');
  writeFileSync(path.join(dir, 'cluster.yaml'), shippedClusterYaml);
  return dir;
}

const haveOpenSsh = spawnSync('ssh-keygen', ['-?']).error === undefined;

describe('kubestation seed-isos', () => {
  it('writes every node seed offline, reports path/size/sha256, and reports unchanged on a rerun', async () => {
    const dir = labFolder();
    const first = await seedIsos(dir, ['--cluster', 'cluster.yaml']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    for (const node of ['k8s-master', 'k8s-worker1', 'k8s-worker2']) {
      const iso = path.join(dir, '.kubestation', node, 'seed.iso');
      const sha = execFileSync('sha256sum', [iso], { encoding: 'utf8' }).split(' ')[0];
      expect(first.stdout).toContain(`${node}: ${iso}`);
      expect(first.stdout).toContain(`${statSync(iso).size} bytes  sha256 ${sha}  changed`);
      // The ISO holds exactly the files beside it, under their real names, labelled cidata.
      expect(execFileSync('blkid', ['-o', 'value', '-s', 'LABEL', iso], { encoding: 'utf8' }).trim()).toBe(
        'cidata',
      );
      for (const name of ['user-data', 'meta-data', 'network-config']) {
        const extracted = execFileSync('isoinfo', ['-R', '-i', iso, '-x', `/${name}`]);
        expect(
          extracted.equals(readFileSync(path.join(dir, '.kubestation', node, name))),
          `${node}/${name}`,
        ).toBe(true);
        expect(statSync(path.join(dir, '.kubestation', node, name)).mode & 0o077).toBe(0);
      }
    }
    const second = await seedIsos(dir, []);
    expect(second.code).toBe(0);
    expect(second.stdout.match(/ unchanged /g)).toHaveLength(3);
    expect(second.stdout).not.toContain('created ');
  });

  it('--node writes only that node; an unknown node is an error listing the nodes', async () => {
    const dir = labFolder();
    const one = await seedIsos(dir, ['--node', 'k8s-worker2', '--state-dir', 'elsewhere', '--json']);
    expect(one.code).toBe(0);
    const report = JSON.parse(one.stdout);
    expect(report.nodes.map((n: { node: string }) => n.node)).toEqual(['k8s-worker2']);
    expect(report.nodes[0].iso.path).toBe(path.join(dir, 'elsewhere', 'k8s-worker2', 'seed.iso'));
    const bad = await seedIsos(dir, ['--node', 'k8s-worker9']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      "node 'k8s-worker9' is not in the cluster spec (nodes: k8s-master, k8s-worker1, k8s-worker2)",
    );
    expect(bad.stderr).toContain('fix:');
  });

  it('never prints a secret: CA key, token secret, SSH private key', async () => {
    const dir = labFolder();
    const outputs = [
      await seedIsos(dir, []),
      await seedIsos(dir, ['--json']),
      await seedIsos(dir, ['--node', 'nope']),
    ];
    const state = path.join(dir, '.kubestation');
    const token = readFileSync(path.join(state, 'pki/bootstrap-token'), 'utf8').trim();
    const secrets = [
      token.split('.')[1]!,
      ...readFileSync(path.join(state, 'pki/ca.key'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('-----')),
      ...readFileSync(path.join(state, 'ssh/id_ed25519'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('-----')),
    ];
    for (const { stdout, stderr } of outputs) {
      for (const secret of secrets) {
        expect(stdout).not.toContain(secret);
        expect(stderr).not.toContain(secret);
      }
    }
  });

  it('generates the SSH key once, owner-only, readable by ssh-keygen, and puts its public key in every user-data', async () => {
    const dir = labFolder();
    await seedIsos(dir, []);
    const key = path.join(dir, '.kubestation/ssh/id_ed25519');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const publicKey = readFileSync(`${key}.pub`, 'utf8').trim();
    expect(publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/=]+ pista@k8s-lab$/);
    if (haveOpenSsh)
      expect(execFileSync('ssh-keygen', ['-y', '-f', key], { encoding: 'utf8' }).trim()).toBe(publicKey);
    for (const node of ['k8s-master', 'k8s-worker1'])
      expect(readFileSync(path.join(dir, '.kubestation', node, 'user-data'), 'utf8')).toContain(publicKey);
    await seedIsos(dir, []);
    expect(readFileSync(`${key}.pub`, 'utf8').trim()).toBe(publicKey);
  });

  it('uses the spec keys instead of generating one', async () => {
    const dir = tempDir('seed-keys');
    const specKey =
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBNM9+vnyMh9rSKQoQtb2dm9JMvhchytsMHFhmFujHU/ me@laptop';
    writeFileSync(
      path.join(dir, 'cluster.yaml'),
      shippedClusterYaml.replace('sshAuthorizedKeys: []', `sshAuthorizedKeys: ["${specKey}"]`),
    );
    const run = await seedIsos(dir, []);
    expect(run.code, run.stderr).toBe(0);
    expect(() => statSync(path.join(dir, '.kubestation/ssh'))).toThrow();
    expect(readFileSync(path.join(dir, '.kubestation/k8s-master/user-data'), 'utf8')).toContain(specKey);
  });
});

describe('OpenSSH key encoding', () => {
  it.skipIf(!haveOpenSsh)(
    'ssh-keygen derives the same public key from the private key file, and signs with it',
    () => {
      const dir = tempDir('sshkey');
      const { seed, publicKey } = generateEd25519();
      const file = path.join(dir, 'id');
      writeFileSync(file, openSshPrivateKey(seed, publicKey, 'a@b'), { mode: 0o600 });
      expect(execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim()).toBe(
        openSshPublicKey(publicKey, 'a@b'),
      );
      writeFileSync(path.join(dir, 'msg'), 'hello');
      const sign = spawnSync('ssh-keygen', ['-Y', 'sign', '-f', file, '-n', 'file', path.join(dir, 'msg')], {
        encoding: 'utf8',
      });
      expect(sign.status, sign.stderr).toBe(0);
    },
  );
});
