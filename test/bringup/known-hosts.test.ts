/**
 * A node cloned anew (rebuild-node, a worker removed and added again, a first build
 * after destroy) has new SSH host keys. ssh_config files each node's key under its
 * name, unhashed, and the clone step drops that entry, so `ssh -F ssh_config <node>`
 * records the new key instead of refusing with "REMOTE HOST IDENTIFICATION HAS CHANGED".
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSshConfig } from '../../src/bringup/finish.js';
import { forgetHostKey, knownHostsPath, withoutHost } from '../../src/bringup/known-hosts.js';
import { seedSpec } from './lab.js';
import { tempDir } from '../support/temp-dir.js';

const entries = [
  '# kept: a comment',
  'k8s-worker1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld1',
  'k8s-worker10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld10',
  '[k8s-worker1]:2222,other ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPort',
  'k8s-master ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaster',
  '',
].join('\n');

describe("the cluster's known_hosts", () => {
  it("drops exactly the node's entries, whatever else the file holds", () => {
    expect(withoutHost(entries, 'k8s-worker1')).toBe(
      [
        '# kept: a comment',
        'k8s-worker10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld10',
        'k8s-master ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaster',
        '',
      ].join('\n'),
    );
    expect(withoutHost(entries, 'k8s-worker3')).toBe(entries);
  });

  it('forgets a key in the state folder and leaves a missing file missing', async () => {
    const dir = tempDir('kubestation-known-hosts-');
    await forgetHostKey(dir, 'k8s-worker1'); // no file: nothing to do, nothing created
    await expect(readFile(knownHostsPath(dir), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(knownHostsPath(dir), entries);
    await forgetHostKey(dir, 'k8s-master');
    expect(await readFile(knownHostsPath(dir), 'utf8')).not.toContain('k8s-master ');
    expect(await readFile(knownHostsPath(dir), 'utf8')).toContain('k8s-worker1 ssh-ed25519');
  });

  it('ssh reads ssh_config as filing each key under the node name, unhashed, in the state folder (ssh -G, no connection)', async () => {
    const spec = await seedSpec();
    const dir = tempDir('kubestation-ssh-config-');
    const file = path.join(dir, 'ssh_config');
    await writeFile(file, renderSshConfig(spec, path.join(dir, 'id_ed25519'), knownHostsPath(dir)));
    for (const node of spec.nodes) {
      const settings = execFileSync('ssh', ['-G', '-F', file, node.name], { encoding: 'utf8' });
      expect(settings).toMatch(
        new RegExp(`^hostname ${node.nics.hostOnly.address.replace(/\./g, '\\.')}$`, 'm'),
      );
      expect(settings).toMatch(new RegExp(`^hostkeyalias ${node.name}$`, 'm'));
      expect(settings).toMatch(/^hashknownhosts no$/m);
      expect(settings).toMatch(/^stricthostkeychecking accept-new$/m);
      expect(settings).toContain(`userknownhostsfile ${knownHostsPath(dir)}`);
    }
  });
});
