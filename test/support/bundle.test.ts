/**
 * `doctor --bundle` against the simulators: what goes into the zip for a
 * built lab, a lab never built and vmrest down, and the proof that no secret
 * gets in: known secret values are planted in every place the bundle reads
 * (state folder, serial consoles, .vmx, preferences, environment) and every
 * entry of the zip, decompressed, is scanned for them.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unzipSync } from 'fflate';
import type { BuildState } from '../../src/bringup/state.js';
import { afterEach, describe, expect, it } from 'vitest';
import { nodePaths } from '../../src/bringup/paths.js';
import { run as doctor } from '../../src/commands/doctor.js';
import { clusterSecretPaths } from '../../src/pki/index.js';
import { sshKeyPaths } from '../../src/ssh/keypair.js';
import { redactText } from '../../src/support/redact.js';
import { writeRunLog } from '../../src/run-log.js';
import { runDay2Command, startDay2Lab, type Day2Lab } from '../day2/lab.js';
import { writeSshStandIn } from './ssh-standin.js';

let lab: Day2Lab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

async function readZip(file: string): Promise<Map<string, string>> {
  const files = unzipSync(new Uint8Array(await readFile(file)));
  return new Map(Object.entries(files).map(([name, bytes]) => [name, Buffer.from(bytes).toString('utf8')]));
}

/** Each secret as a scanner must not find it: whole, and each line of a PEM body. */
function secretNeedles(secrets: string[]): string[] {
  return secrets.flatMap((s) => [
    s.trim(),
    ...s
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length >= 40 && !l.startsWith('-----')),
  ]);
}

describe('doctor --bundle', () => {
  it('a built lab: every part is in the zip, and no planted secret is, anywhere', async () => {
    const l = (lab = await startDay2Lab());
    const pki = clusterSecretPaths(l.spec.stateDir);
    const token = (await readFile(pki.bootstrapToken, 'utf8')).trim();
    const caKey = await readFile(pki.caKey, 'utf8');
    const adminKey = await readFile(pki.adminKey, 'utf8');
    const sshKey = existsSync(sshKeyPaths(l.spec.stateDir).privateKey)
      ? await readFile(sshKeyPaths(l.spec.stateDir).privateKey, 'utf8')
      : undefined;
    // Secrets of the guest's own, which this PC never knew: found by their shape.
    const guestServiceAccountKey = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const certificateKey = randomBytes(32).toString('hex');
    const extraTokenEnv = `planted-${randomBytes(8).toString('hex')}`;

    const master = l.spec.controlPlane;
    const serial = nodePaths(l.spec, master).serialLog;
    await appendFile(
      serial,
      [
        `kubeadm init phase upload-certs --certificate-key ${certificateKey}`,
        `[kubeadm] using token ${token}`,
        guestServiceAccountKey,
        `ca key leaked into a log:\n${caKey}`,
        `vmrest said: password Day2-test! was refused`,
        `Authorization: Basic ${Buffer.from('kubestation:Day2-test!').toString('base64')}`,
        `the extra secret ${extraTokenEnv}`,
        '',
      ].join('\n'),
    );
    const masterVmx = l.nodeVm(master.name)!.vmxPath;
    await appendFile(
      masterVmx,
      `guestinfo.kubestation.join = "${token}"\nguestinfo.note = "${extraTokenEnv}"\n`,
    );
    // An event whose message quotes a join command, as a failed join's event could.
    await l.kube.request('POST', '/api/v1/namespaces/kube-system/events', {
      body: {
        metadata: { name: 'planted.1', namespace: 'kube-system' },
        message: `kubeadm join 172.100.100.2:6443 --token ${token} failed`,
      },
    });

    // The last build-vms run, as the CLI logs it, with the token in its output.
    const now = new Date();
    await writeRunLog(
      l.spec.stateDir,
      {
        command: 'build-vms',
        argv: [],
        startedAt: now,
        finishedAt: now,
        exitCode: 0,
        output: `token ${token}\n`,
      },
      {},
      '0.0.0-test',
    );
    // The nodes over (stand-in) SSH: the control plane's logs quote secrets; worker2 does not answer.
    const sshDir = path.join(l.dir, 'ssh-standin');
    const ssh = await writeSshStandIn(sshDir, {
      [master.name]: {
        files: {
          'var/log/cloud-init-output.log': `kubeadm join 172.100.100.2:6443 --token ${token}\n${caKey}`,
          'var/log/kubestation/kubeadm-init.log': `[upload-certs] Using certificate key:\n${certificateKey}\n`,
        },
        outputs: {
          'cloud-init': 'status: done\n',
          journalctl: `kubelet[812]: bootstrap with ${token}\n`,
          crictl: 'CONTAINER  IMAGE  STATE\n',
          ip: '2: ens33: <BROADCAST,MULTICAST,UP>\n',
          ufw: 'Status: active\n',
        },
      },
      [l.spec.workers[0]!.name]: { files: {}, outputs: { 'cloud-init': 'status: done\n' } },
    });
    const bundleFile = path.join(l.dir, 'out', 'bundle.zip');
    const result = await runDay2Command(
      l,
      async (ctx) => {
        ctx.env.PLANTED_API_TOKEN = extraTokenEnv;
        ctx.env.KUBESTATION_SSH = ssh;
        ctx.env.PATH = process.env.PATH;
        return doctor(ctx);
      },
      ['--bundle', bundleFile],
    );
    expect(result.stderr).toMatch(/bundle: serial consoles: \d+ files/);
    expect(result.stdout).toMatch(new RegExp(`support bundle: .*bundle\\.zip \\(\\d+ KiB\\)`));

    const zip = await readZip(bundleFile);
    const names = [...zip.keys()];
    for (const expected of [
      'README.txt',
      'cluster.yaml',
      'state/state.json',
      `consoles/${master.name}.serial.log`,
      `vms/${master.name}.vmx`,
      'vms/template.vmx',
      'vmrest/vms.json',
      'vmrest/vmnets.json',
      'workstation/folders.json',
      'workstation/preferences',
      'host.json',
      'reports/doctor.json',
      'reports/status.json',
      'reports/workstation.json',
      'logs/build-vms.log',
      `nodes/${master.name}/cloud-init-status.txt`,
      `nodes/${master.name}/cloud-init-output.log`,
      `nodes/${master.name}/kubestation/kubeadm-init.log`,
      `nodes/${master.name}/journal.log`,
      `nodes/${master.name}/crictl-ps.txt`,
      `nodes/${master.name}/ip-addr.txt`,
      `nodes/${master.name}/ip-route.txt`,
      `nodes/${master.name}/ufw-status.txt`,
      `nodes/${l.spec.workers[0]!.name}/cloud-init-status.txt`,
      'cluster/nodes.json',
      'cluster/pods.json',
      'cluster/events.json',
    ])
      expect(names, zip.get('README.txt')).toContain(expected);
    for (const n of l.spec.nodes) expect(names).toContain(`vms/${n.name}.vmx`);
    expect(
      names.some((n) => n.includes('user-data') || n.endsWith('.iso') || n.startsWith('state/pki/ca')),
    ).toBe(false);

    // The planted secrets were there to be found (the log says so) and are not in any entry.
    const log = zip.get(`consoles/${master.name}.serial.log`)!;
    expect(log).toContain('<redacted: certificate key>');
    expect(log).toContain('<redacted: private key>');
    expect(log).toContain('kubeadm init phase upload-certs');
    const needles = secretNeedles([
      token,
      token.split('.')[1]!,
      caKey,
      adminKey,
      ...(sshKey ? [sshKey] : []),
      guestServiceAccountKey,
      certificateKey,
      'Day2-test!',
      Buffer.from('kubestation:Day2-test!').toString('base64'),
      extraTokenEnv,
    ]);
    for (const [name, text] of zip)
      for (const needle of needles)
        expect(text.includes(needle), `${name} holds a planted secret (${needle.slice(0, 12)}...)`).toBe(
          false,
        );

    expect(zip.get(`nodes/${master.name}/ufw-status.txt`)).toBe('Status: active\n');
    expect(zip.get(`nodes/${master.name}/kubestation/kubeadm-init.log`)).toContain(
      '<redacted: certificate key>',
    );
    const readme = zip.get('README.txt')!;
    const worker2 = l.spec.workers[1]!.name;
    expect(readme).toContain(
      `node ${worker2} over SSH: ssh exited with code 255: ssh: connect to host ${worker2} port 22: Connection timed out`,
    );
    // Each node is asked in one batch-mode session with the lab's ssh_config.
    const calls = (await readFile(path.join(sshDir, 'calls.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as string[]);
    expect(calls).toHaveLength(l.spec.nodes.length);
    expect(calls[0]).toEqual([
      '-F',
      path.join(l.spec.stateDir, 'ssh_config'),
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=5',
      master.name,
      'sh',
      '-s',
    ]);
    const host = JSON.parse(zip.get('host.json')!) as { node: string; kubestation: string };
    expect(host.node).toBe(process.version);

    // What the build saw of the unverified behaviours, in state.json and the doctor report; README.txt says where.
    const recorded = (JSON.parse(zip.get('state/state.json')!) as BuildState).assumptions!;
    expect(recorded['nic-index']!.latest).toMatchObject({
      value: 'ethernet<N-1>',
      command: 'vmrest GET /vms/{id}/nic',
    });
    expect(recorded['serial-readable-running']!.latest.value).toBe('readable');
    expect((JSON.parse(zip.get('reports/doctor.json')!) as { assumptions: unknown }).assumptions).toEqual(
      recorded,
    );
    expect(readme).toContain('state/state.json, under "assumptions"');
  });

  it('a lab never built, vmrest down: a zip with what there is, and README.txt says what is missing and why', async () => {
    const l = (lab = await startDay2Lab({ build: false }));
    await rm(path.join(l.spec.stateDir, 'state.json'), { force: true });
    const bundleFile = path.join(l.dir, 'bundle.zip');
    const result = await runDay2Command(
      l,
      (ctx) => doctor({ ...ctx, env: { ...ctx.env, VMREST_URL: 'http://127.0.0.1:9/api' } }),
      ['--bundle', bundleFile, '--json'],
    );
    expect(JSON.parse(result.stdout)).toHaveProperty('checks');
    expect(result.stderr).toContain('support bundle:');
    const zip = await readZip(bundleFile);
    expect([...zip.keys()]).toEqual(
      expect.arrayContaining(['README.txt', 'cluster.yaml', 'host.json', 'reports/doctor.json']),
    );
    const readme = zip.get('README.txt')!;
    expect(readme).toMatch(/vmrest answers: .*(not running|refused|answer)/i);
    expect(JSON.parse(zip.get('reports/status.json')!)).toMatchObject({ vmrest: { ok: false } });
    expect(readme).toMatch(/cluster pods: .*no lab built yet/);
    expect(readme).toMatch(
      /node k8s-master over SSH: no ssh_config in the state folder .*: the lab has not finished a build yet/,
    );
    expect(readme).not.toContain('Day2-test!');
  });
});

describe('redactText', () => {
  it('replaces secret shapes it was not told about, and keeps ordinary text', () => {
    const text = [
      'users:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVF',
      'kubeadm join 172.100.100.2:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:00ff',
      '{"password": "s3cr3t!"}',
      'node k8s-worker1 Ready',
    ].join('\n');
    const out = redactText(text, []);
    expect(out).not.toContain('LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t');
    expect(out).not.toContain('0123456789abcdef');
    expect(out).not.toContain('s3cr3t!');
    expect(out).toContain('--discovery-token-ca-cert-hash sha256:00ff');
    expect(out).toContain('node k8s-worker1 Ready');
  });
});
