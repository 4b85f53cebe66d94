/**
 * A node comes back after a reboot: the control plane's seed (real `kubestation seed-isos`
 * output) boots the guest to the end of its first boot, then the SAME disk boots again
 * with no CD-ROM drive at all — as the node's VM boots once build-vms has detached the
 * seed (it holds the CA key and the join token). What the lab owner relies on after
 * turning the PC off and on is checked on that second boot: cloud-init does not run at
 * all (the first boot disabled it: without the seed it would take the node for a new
 * instance and replace the static addresses with DHCP), so no first-boot stage runs again
 * and nothing it wrote changes; swap stays off; the kernel modules and sysctls load at
 * boot; the static addresses on ens33/ens37 come back; kubelet and containerd are enabled
 * and started by systemd.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FINAL_STAGE } from '../../src/progress/index.js';
import { followProgress, section } from './support/node-checks.js';
import {
  boot,
  describeImage,
  ensureGuestImage,
  logTiming,
  readBack,
  readGuestFile,
  runDir,
  standinCalls,
  type BootResult,
  type GuestImage,
} from './support/rig.js';
import { generateSeeds, type SeedRun } from './support/seeds.js';

/** Two boots back to back; on a shared, loaded machine a boot may take far longer than its usual 2–6 minutes. */
const BOOT_TIMEOUT_SECONDS = 2400;

/** What the two boots are compared on, read back after each. */
const PATHS = [
  '/var/lib/cloud/instances',
  '/var/lib/cloud/data',
  '/var/log/kubestation',
  '/var/log/kubestation-standins',
  '/var/log/kubestation-e2e',
  '/var/log/cloud-init.log',
  '/etc/fstab',
  '/etc/netplan',
  '/etc/ssh/ssh_host_ed25519_key.pub',
  '/etc/cloud/cloud-init.disabled',
];

/** Every file below `dir` with its modification time (ms), by path relative to `dir`. */
async function filesWithMtimes(dir: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    found.set(path.relative(dir, file), (await stat(file)).mtimeMs);
  }
  return found;
}

/** The kernel saw a CD-ROM drive (QEMU's IDE DVD-ROM holding the seed). */
const cdromSeen = (console: string): boolean => /ATAPI: QEMU DVD-ROM|\[sr0\]/.test(console);

describe('a node after a reboot without its seed', () => {
  let image: GuestImage;
  let run: SeedRun;
  let first: BootResult;
  let firstRoot: string;
  let second: BootResult;
  let secondRoot: string;

  beforeAll(
    async () => {
      image = await ensureGuestImage();
      logTiming(describeImage(image));
      run = await generateSeeds(await runDir('reboot-seeds'));
      const node = run.spec.controlPlane;
      const seed = run.seeds.get(node.name);
      if (!seed) throw new Error(`seed-isos wrote no seed for ${node.name}`);
      const dir = await runDir('reboot');
      const macs = [node.nics.nat.mac, node.nics.hostOnly.mac];
      first = await boot({
        name: 'reboot-first-boot',
        dir,
        image,
        seedIso: seed.iso,
        macs,
        timeoutSeconds: BOOT_TIMEOUT_SECONDS,
      });
      logTiming(`reboot: first boot to power-off ${first.seconds} s`);
      firstRoot = await readBack(first, PATHS, { rootName: 'root-first', keepDisk: true });
      second = await boot({
        name: 'reboot-second-boot',
        dir,
        image,
        seedIso: undefined,
        reuseDisk: true,
        consoleName: 'console-second.log',
        macs,
        timeoutSeconds: BOOT_TIMEOUT_SECONDS,
      });
      logTiming(`reboot: second boot to power-off ${second.seconds} s`);
      secondRoot = await readBack(second, PATHS, { rootName: 'root-second' });
    },
    2 * BOOT_TIMEOUT_SECONDS * 1000 + 10 * 60_000,
  );

  it('the first boot ran the seed to the end, from the CD-ROM', () => {
    const node = run.spec.controlPlane;
    const { progress, lines } = followProgress(first, node.name, node.role);
    expect(progress.failure, 'no stage failed on the first boot').toBeUndefined();
    expect(lines.at(-1)).toMatchObject({ node: node.name, stage: FINAL_STAGE, event: 'done' });
    expect(cdromSeen(first.console), 'the first boot has the seed CD-ROM').toBe(true);
  });

  it('the second boot has no CD-ROM and prints no progress line: the first-boot stages did not run again', () => {
    expect(cdromSeen(second.console), 'the second boot has no CD-ROM drive').toBe(false);
    expect(section(second, 'meta'), 'the hook gave up waiting for cloud-init on the second boot').toContain(
      'waited_out=no',
    );
    const node = run.spec.controlPlane;
    const { lines } = followProgress(second, node.name, node.role);
    expect(lines).toEqual([]);
    expect(second.console).not.toContain('KUBESTATION 1 ');
  });

  it('cloud-init did not run on the second boot: the instance, its semaphores, the network config and the host key are as the first boot left them', async () => {
    expect(
      existsSync(path.join(firstRoot, 'etc/cloud/cloud-init.disabled')),
      'the first boot disabled cloud-init for later boots',
    ).toBe(true);
    expect(section(second, 'cloud-init-status')).toMatch(/^status: disabled$/m);
    const instanceId = (await readGuestFile(firstRoot, '/var/lib/cloud/data/instance-id')).trim();
    expect(instanceId).not.toBe('');
    expect((await readGuestFile(secondRoot, '/var/lib/cloud/data/instance-id')).trim()).toBe(instanceId);
    const semDir = (root: string) => path.join(root, 'var/lib/cloud/instances', instanceId, 'sem');
    const semBefore = await filesWithMtimes(semDir(firstRoot));
    expect([...semBefore.keys()], 'the first boot recorded per-instance semaphores').toContain(
      'config_runcmd',
    );
    expect(await filesWithMtimes(semDir(secondRoot))).toEqual(semBefore);
    expect(await readdir(path.join(secondRoot, 'var/lib/cloud/instances'))).toEqual([instanceId]);
    // The first-boot stage logs, cloud-init's own log, the netplan files and the SSH host key: untouched.
    for (const dir of ['var/log/kubestation', 'etc/netplan']) {
      expect(await filesWithMtimes(path.join(secondRoot, dir)), dir).toEqual(
        await filesWithMtimes(path.join(firstRoot, dir)),
      );
    }
    expect(await readGuestFile(secondRoot, '/var/log/cloud-init.log')).toBe(
      await readGuestFile(firstRoot, '/var/log/cloud-init.log'),
    );
    expect(await readGuestFile(secondRoot, '/etc/ssh/ssh_host_ed25519_key.pub')).toBe(
      await readGuestFile(firstRoot, '/etc/ssh/ssh_host_ed25519_key.pub'),
    );
  });

  it('swap stays off', async () => {
    expect(section(second, 'swaps').trim().split('\n')).toHaveLength(1); // the header only
    expect(await readGuestFile(secondRoot, '/etc/fstab')).not.toMatch(/^[^#].*\sswap\s/m);
  });

  it('the kernel modules and sysctls are loaded at boot', async () => {
    const modules = section(second, 'lsmod');
    for (const module of ['overlay', 'br_netfilter', ...run.spec.os.kernelModules]) {
      expect(modules, `module ${module} loaded on the second boot`).toMatch(new RegExp(`^${module}\\s`, 'm'));
    }
    // sysctl.txt is `sysctl -a` taken by the second boot's hook (it replaced the first boot's).
    const sysctl = await readGuestFile(secondRoot, '/var/log/kubestation-e2e/sysctl.txt');
    const expected = {
      'net.ipv4.ip_forward': '1',
      'net.bridge.bridge-nf-call-iptables': '1',
      'net.bridge.bridge-nf-call-ip6tables': '1',
      ...run.spec.os.sysctl,
    };
    for (const [key, value] of Object.entries(expected)) {
      expect(sysctl, `sysctl ${key} on the second boot`).toMatch(
        new RegExp(`^${key.replace(/\./g, '\\.')} = ${value}$`, 'm'),
      );
    }
  });

  it('the static addresses on ens33 and ens37 come back, with the default route', () => {
    const node = run.spec.controlPlane;
    const links = section(second, 'ip-link');
    const addresses = section(second, 'ip-addr');
    for (const nic of [node.nics.nat, node.nics.hostOnly]) {
      expect(links, `${nic.guestName} carries MAC ${nic.mac}`).toMatch(
        new RegExp(`^\\d+: ${nic.guestName}: <[^>]*\\bUP\\b[^>]*>.*link/ether ${nic.mac}`, 'm'),
      );
      expect(addresses, `${nic.guestName} has ${nic.address}/${nic.prefix}`).toMatch(
        new RegExp(`^\\d+: ${nic.guestName}\\s+inet ${nic.address}/${nic.prefix}\\b`, 'm'),
      );
    }
    const defaults = section(second, 'ip-route')
      .split('\n')
      .filter((line) => line.startsWith('default '))
      .map((line) => line.replace(/ proto .*$/, '').trim());
    expect(defaults).toEqual([`default via ${run.spec.networks.nat.gateway} dev ${node.nics.nat.guestName}`]);
  });

  it('containerd and kubelet are enabled and were started by systemd at boot; kubeadm was not called again', async () => {
    const services = section(second, 'services');
    expect(services).toMatch(/^containerd active enabled$/m);
    expect(services).toMatch(/^kubelet active enabled$/m);
    const before = await standinCalls(firstRoot);
    const after = await standinCalls(secondRoot);
    expect(after.slice(0, before.length)).toEqual(before);
    const secondBootCalls = after.slice(before.length);
    // The stand-ins record each start; only systemd starts them on the second boot.
    expect(secondBootCalls.map((c) => c.program)).toEqual(expect.arrayContaining(['kubelet', 'containerd']));
    expect(secondBootCalls.filter((c) => c.program === 'kubeadm' || c.program === 'kubectl')).toEqual([]);
  });
});
