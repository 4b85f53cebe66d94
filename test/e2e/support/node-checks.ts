/**
 * What a booted node must show, checked against the guest's report (printed on its serial
 * console before power-off) and files read back from its disk. The same checks run for the
 * hand-made rig seed and for kubestation's generated seeds; only the expectations differ.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { NodeProgress, ProgressLineAccumulator, type ProgressLine } from '../../../src/progress/index.js';
import type { NodeRole } from '../../../src/config/model.js';
import { readGuestFile, standinCalls, type BootResult, type StandinCall } from './rig.js';

export interface NicExpectation {
  name: string;
  mac: string;
  address: string;
  prefix: number;
}

/** One line of `ufw status`: "To" column (e.g. "6443/tcp", "Anywhere"), action, "From" column. */
export interface FirewallExpectation {
  to: string;
  action?: 'ALLOW IN' | 'ALLOW FWD';
  /** Default "Anywhere". */
  from?: string;
}

export interface NodeExpectation {
  hostname: string;
  /** [address, name] pairs /etc/hosts must map. */
  hosts: [string, string][];
  user: { name: string; sshAuthorizedKeys: string[] };
  timezone: string;
  locale: string;
  ntpServers: string[];
  nics: NicExpectation[];
  defaultRoute: { via: string; dev: string };
  kernelModules: string[];
  sysctl: Record<string, string>;
  /** Rules `ufw status` must list; undefined = ufw not enabled. */
  firewallAllows: FirewallExpectation[] | undefined;
  /** The kubeadm call the node must make once, after containerd is configured. */
  kubeadm: { subcommand: 'init' | 'join'; configText: string };
}

/** One section of the report the image's hook printed; fails the test when the hook did not print it. */
export function section(boot: BootResult, name: string): string {
  const text = boot.report.get(name);
  expect(
    text,
    `report section "${name}" missing from ${boot.name}'s console (did the e2e hook run?)`,
  ).toBeDefined();
  return text ?? '';
}

/** cloud-init ran every stage to the end without errors. */
export async function checkCloudInitSucceeded(boot: BootResult, root: string): Promise<void> {
  expect(section(boot, 'meta'), 'the hook gave up waiting for cloud-init').toContain('waited_out=no');
  const result = JSON.parse(await readGuestFile(root, '/var/lib/cloud/data/result.json')) as {
    v1: { datasource: string; errors: string[] };
  };
  expect(result.v1.datasource).toContain('DataSourceNoCloud');
  expect(result.v1.errors).toEqual([]);
  const status = JSON.parse(await readGuestFile(root, '/var/lib/cloud/data/status.json')) as {
    v1: Record<string, { errors?: string[] } | string | null>;
  };
  for (const stage of ['init-local', 'init', 'modules-config', 'modules-final']) {
    const entry = status.v1[stage];
    expect(entry, `cloud-init stage ${stage} did not run`).toBeTypeOf('object');
    expect((entry as { errors?: string[] }).errors ?? [], `errors in cloud-init stage ${stage}`).toEqual([]);
  }
}

export async function checkNode(boot: BootResult, root: string, node: NodeExpectation): Promise<void> {
  // Identity.
  expect(section(boot, 'hostname').split('\n')[0]).toBe(node.hostname);
  expect((await readGuestFile(root, '/etc/hostname')).trim()).toBe(node.hostname);
  const hosts = await readGuestFile(root, '/etc/hosts');
  for (const [address, name] of node.hosts) {
    expect(hosts, `/etc/hosts should map ${name} to ${address}`).toMatch(
      new RegExp(`^${address.replace(/\./g, '\\.')}\\s+(.*\\s)?${name}(\\s|$)`, 'm'),
    );
  }

  // Login user with sudo and the keys.
  const users = section(boot, 'users');
  expect(users).toMatch(new RegExp(`^${node.user.name}:x:\\d+:\\d+:`, 'm'));
  expect(users, `${node.user.name} should have sudo rights`).toMatch(
    new RegExp(
      `User ${node.user.name} may run the following commands[\\s\\S]*\\(ALL(?: : ALL)?\\) (NOPASSWD: )?ALL`,
    ),
  );
  const authorizedKeys = await readGuestFile(root, `/home/${node.user.name}/.ssh/authorized_keys`);
  for (const key of node.user.sshAuthorizedKeys) expect(authorizedKeys).toContain(key.trim());

  // Time and language.
  expect((await readGuestFile(root, '/etc/timezone')).trim()).toBe(node.timezone);
  expect(section(boot, 'timezone')).toContain(`/usr/share/zoneinfo/${node.timezone}`);
  expect(await readGuestFile(root, '/etc/default/locale')).toMatch(
    new RegExp(`^LANG="?${node.locale}"?$`, 'm'),
  );
  const [language, charset] = node.locale.split('.');
  expect(section(boot, 'locale')).toContain(`${language}.${(charset ?? '').toLowerCase().replace('-', '')}`);
  const chrony = await readGuestFile(root, '/etc/chrony/chrony.conf');
  for (const server of node.ntpServers)
    expect(chrony).toMatch(new RegExp(`^(server|pool) ${server}\\b`, 'm'));
  expect(section(boot, 'services')).toMatch(/^chrony active/m);

  // Network: NICs renamed by MAC, static addresses, default route.
  const links = section(boot, 'ip-link');
  const addresses = section(boot, 'ip-addr');
  for (const nic of node.nics) {
    expect(links, `${nic.name} should carry MAC ${nic.mac}`).toMatch(
      new RegExp(`^\\d+: ${nic.name}: <[^>]*\\bUP\\b[^>]*>.*link/ether ${nic.mac}`, 'm'),
    );
    expect(addresses).toMatch(new RegExp(`^\\d+: ${nic.name}\\s+inet ${nic.address}/${nic.prefix}\\b`, 'm'));
  }
  const defaultRoutes = section(boot, 'ip-route')
    .split('\n')
    .filter((line) => line.startsWith('default '));
  expect(defaultRoutes.map((line) => line.replace(/ proto .*$/, '').trim())).toEqual([
    `default via ${node.defaultRoute.via} dev ${node.defaultRoute.dev}`,
  ]);

  // Kernel: swap off, modules loaded, sysctls applied.
  expect(section(boot, 'swaps').trim().split('\n')).toHaveLength(1); // header only
  expect(await readGuestFile(root, '/etc/fstab')).not.toMatch(/^[^#].*\sswap\s/m);
  const modules = section(boot, 'lsmod');
  for (const module of node.kernelModules)
    expect(modules, `module ${module} loaded`).toMatch(new RegExp(`^${module}\\s`, 'm'));
  const sysctl = await readGuestFile(root, '/var/log/kubestation-e2e/sysctl.txt');
  for (const [key, value] of Object.entries(node.sysctl)) {
    expect(sysctl, `sysctl ${key}`).toMatch(new RegExp(`^${key.replace(/\./g, '\\.')} = ${value}$`, 'm'));
  }

  // Firewall.
  const ufw = section(boot, 'ufw');
  if (node.firewallAllows) {
    expect(ufw).toMatch(/^Status: active/m);
    const escape = (text: string) => text.replace(/[/.]/g, '\\$&');
    for (const rule of node.firewallAllows) {
      const action = rule.action ?? 'ALLOW IN';
      const from = rule.from ?? 'Anywhere';
      expect(ufw, `ufw should have "${rule.to} ${action} ${from}"`).toMatch(
        new RegExp(`^${escape(rule.to)}\\s+${action}\\s+${escape(from)}(\\s|$)`, 'm'),
      );
    }
  } else {
    expect(ufw).toMatch(/^Status: inactive/m);
  }

  await checkContainerdThenKubeadm(root, node.kubeadm);
}

/** containerd configured (SystemdCgroup) and running before the single kubeadm call with the expected config. */
async function checkContainerdThenKubeadm(
  root: string,
  kubeadm: NodeExpectation['kubeadm'],
): Promise<StandinCall> {
  const configToml = await readGuestFile(root, '/etc/containerd/config.toml');
  expect(configToml).toMatch(/^\s*SystemdCgroup\s*=\s*true\s*$/m);
  const calls = await standinCalls(root);
  const kubeadmRuns = calls.filter(
    (call) => call.program === 'kubeadm' && (call.argv[0] === 'init' || call.argv[0] === 'join'),
  );
  expect(
    kubeadmRuns.map((call) => call.argv[0]),
    'kubeadm init/join calls',
  ).toEqual([kubeadm.subcommand]);
  const call = kubeadmRuns[0] as StandinCall;
  expect(call.containerd, 'containerd when kubeadm ran').toMatchObject({
    configExists: true,
    systemdCgroupTrue: true,
    serviceActive: 'active',
    configSha256: createHash('sha256').update(configToml).digest('hex'),
  });
  const configFile = call.files[0];
  expect(configFile?.copy, `kubeadm ${kubeadm.subcommand} should get --config`).toBeDefined();
  const passed = await readFile(path.join(root, configFile?.copy ?? '/missing'), 'utf8');
  expect(passed).toBe(kubeadm.configText);
  return call;
}

/**
 * Reads the node's progress lines from its console with the code build-vms uses
 * (ProgressLineAccumulator → NodeProgress) and returns the resulting state.
 */
export function followProgress(
  boot: BootResult,
  node: string,
  role: NodeRole,
): { progress: NodeProgress; lines: ProgressLine[]; corrupt: number } {
  const accumulator = new ProgressLineAccumulator();
  const lines = [...accumulator.push(boot.console), ...accumulator.end()];
  const progress = new NodeProgress(node, role, 0);
  for (const line of lines) progress.apply(line, line.timeMs);
  return { progress, lines, corrupt: accumulator.corruptLines };
}
