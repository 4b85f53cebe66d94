import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { GUEST, PINNED_SANDBOX_IMAGE } from '../../src/cloudinit/guest.js';
import { renderContainerdConfig } from '../../src/cloudinit/parts/containerd.js';
import { renderUserData, renderNodeSeed } from '../../src/cloudinit/seed.js';
import { FIRST_MINOR_NEEDING_CONTAINERD2 } from '../../src/config/defaults.js';
import type { ClusterSpec, NodeSpec } from '../../src/config/model.js';
import { labInputs, labSpec, repoRoot, tempDir } from './fixtures.js';

interface WriteFileEntry {
  path: string;
  content: string;
  permissions: string;
  owner: string;
}
interface CloudConfig {
  write_files: WriteFileEntry[];
  users: Record<string, unknown>[];
  runcmd: string[][];
  [key: string]: unknown;
}

function parseUserData(text: string): CloudConfig {
  expect(text.startsWith('#cloud-config\n')).toBe(true);
  return yaml.load(text) as CloudConfig;
}

function fileAt(config: CloudConfig, filePath: string): WriteFileEntry {
  const entry = config.write_files.find((f) => f.path === filePath);
  if (!entry)
    throw new Error(`${filePath} not in write_files (${config.write_files.map((f) => f.path).join(', ')})`);
  return entry;
}

function schemaCheck(text: string): { status: number | null; output: string } {
  const file = path.join(tempDir('schema'), 'user-data');
  writeFileSync(file, text);
  const run = spawnSync('cloud-init', ['schema', '-c', file], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

const node = (spec: ClusterSpec, name: string): NodeSpec => spec.nodes.find((n) => n.name === name)!;

const variants: [string, [string | RegExp, string][]][] = [
  ['shipped lab (flannel, taint, firewall)', []],
  [
    'calico, no taint, console password, no firewall, pinned patch',
    [
      ['name: flannel', 'name: calico'],
      ['controlPlaneTaint: true', 'controlPlaneTaint: false'],
      [
        '# passwordHash: "$6$..."',
        'passwordHash: "$6$rounds=4096$saltsalt$3MEaFDfSo.AwEb2w4Q1sZ.sNvYB0PPdPTn/4vjC.R4GmVaw3ZK5L9d7NQ3zqZ1eD0X5GzDQmxYJCz7xM1lbm."',
      ],
      ['enabled: true ', 'enabled: false '],
      ['version: "1.37" ', 'version: "1.37.2" '],
    ],
  ],
];

describe('the schema check itself', () => {
  it('rejects a document cloud-init would reject (so the checks below can fail)', () => {
    const { status, output } = schemaCheck('#cloud-config\nntp:\n  servers: 5\n');
    expect(status).not.toBe(0);
    expect(output).toMatch(/ntp\.servers/);
  });
});

describe.each(variants)('user-data for %s', (_label, edits) => {
  const spec = labSpec(edits);

  it('passes the real cloud-init schema check for every node', async () => {
    const { inputs } = await labInputs();
    for (const n of spec.nodes) {
      const { status, output } = schemaCheck(renderUserData(spec, n, inputs));
      expect(output, n.name).toContain('Valid cloud-config');
      expect(status, n.name).toBe(0);
    }
  });

  it('names the node, manages its own /etc/hosts with every node, sets time, locale and NTP', async () => {
    const { inputs } = await labInputs();
    for (const n of spec.nodes) {
      const config = parseUserData(renderUserData(spec, n, inputs));
      expect(config.hostname).toBe(n.name);
      expect(config.fqdn).toBe(`${n.name}.k8s-lab.internal`);
      expect(config.manage_etc_hosts).toBe(false);
      expect(config.timezone).toBe('Asia/Seoul');
      expect(config.locale).toBe('ko_KR.UTF-8');
      expect(config.ntp).toEqual({ enabled: true, ntp_client: 'chrony', servers: ['time.ravnus.com'] });
      const hosts = fileAt(config, '/etc/hosts').content.split('\n');
      for (const other of spec.nodes)
        expect(hosts).toContain(
          `${other.nics.hostOnly.address} ${other.name}.k8s-lab.internal ${other.name}`,
        );
      expect(hosts).toContain('127.0.0.1 localhost');
      expect(fileAt(config, '/etc/modules-load.d/kubestation.conf').content.split('\n')).toEqual(
        expect.arrayContaining(['overlay', 'br_netfilter']),
      );
      const sysctl = fileAt(config, '/etc/sysctl.d/90-kubestation.conf').content;
      expect(sysctl).toContain('net.ipv4.ip_forward = 1');
      expect(sysctl).toContain('net.bridge.bridge-nf-call-iptables = 1');
      expect(config.runcmd).toEqual([[`${GUEST.libDir}/bootstrap.sh`]]);
    }
  });

  it('creates only the lab user, key login, no SSH passwords, console password only when hashed one is given', async () => {
    const { inputs } = await labInputs();
    const config = parseUserData(renderUserData(spec, spec.controlPlane, inputs));
    expect(config.ssh_pwauth).toBe(false);
    expect(config.users).toHaveLength(1);
    const user = config.users[0]!;
    expect(user.name).toBe('pista');
    expect(user.sudo).toBe('ALL=(ALL) NOPASSWD:ALL');
    expect(user.ssh_authorized_keys).toEqual([...inputs.sshAuthorizedKeys]);
    if (spec.os.user.passwordHash) {
      expect(user.lock_passwd).toBe(false);
      expect(user.hashed_passwd).toBe(spec.os.user.passwordHash);
    } else {
      expect(user.lock_passwd).toBe(true);
      expect(user).not.toHaveProperty('hashed_passwd');
    }
  });

  it('embeds the shipped scripts byte for byte and the stage list of the role', async () => {
    const { inputs } = await labInputs();
    for (const n of spec.nodes) {
      const config = parseUserData(renderUserData(spec, n, inputs));
      const stages = fileAt(config, GUEST.stagesFile)
        .content.split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(' ')[0]!);
      expect(stages).toEqual(
        n.role === 'control-plane'
          ? ['os', 'packages', 'containerd', 'firewall', 'images', 'kubeadm-init', 'cni', 'nodes-ready']
          : ['os', 'packages', 'containerd', 'firewall', 'wait-api', 'kubeadm-join'],
      );
      for (const relative of [
        'bootstrap.sh',
        'lib/progress.sh',
        'lib/common.sh',
        ...stages.map((s) => `stages/${s}.sh`),
      ]) {
        const entry = fileAt(config, `${GUEST.libDir}/${relative}`);
        expect(entry.content).toBe(inputs.scripts[relative]);
        expect(entry.permissions).toBe(relative.startsWith('lib/') ? '0644' : '0755');
      }
    }
  });

  it('gives the control plane the CA (key owner-only) and workers neither CA key nor CA cert file', async () => {
    const { inputs, secrets } = await labInputs();
    const cp = parseUserData(renderUserData(spec, spec.controlPlane, inputs));
    expect(fileAt(cp, '/etc/kubernetes/pki/ca.key')).toMatchObject({
      permissions: '0600',
      content: secrets.ca.keyPem.replace(/\n?$/, '\n'),
    });
    expect(fileAt(cp, '/etc/kubernetes/pki/ca.crt').content.trim()).toBe(secrets.ca.certPem.trim());
    for (const worker of spec.workers) {
      const text = renderUserData(spec, worker, inputs);
      const keyBody = secrets.ca.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
      for (const line of keyBody) expect(text).not.toContain(line);
      expect(text).not.toContain('/etc/kubernetes/pki/ca.key');
      expect(fileAt(parseUserData(text), GUEST.kubeadmJoin).permissions).toBe('0600');
    }
  });

  it('writes node.env that bash sources back to the spec values', async () => {
    const { inputs } = await labInputs();
    const worker = node(spec, 'k8s-worker1');
    const env = fileAt(parseUserData(renderUserData(spec, worker, inputs)), GUEST.nodeEnv).content;
    const file = path.join(tempDir('env'), 'node.env');
    writeFileSync(file, env);
    const out = execFileSync(
      'bash',
      [
        '-c',
        `set -euo pipefail; source "$1"; printf '%s|' "$KUBESTATION_NODE" "$NODE_IP" "$K8S_MINOR" "$K8S_PATCH" "$API_ENDPOINT" "$CNI_NAME" "$FIREWALL_ENABLED" "$K8S_PACKAGE_REPOSITORY" "$CONTAINERD2_FIRST_MINOR"`,
        '_',
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(out.split('|').slice(0, 9)).toEqual([
      'k8s-worker1',
      '172.100.100.3',
      '1.37',
      spec.kubernetes.patch ?? '',
      '172.100.100.2:6443',
      spec.kubernetes.cni.name,
      String(spec.firewall.enabled),
      'https://pkgs.k8s.io/core:/stable:/v1.37/deb/',
      FIRST_MINOR_NEEDING_CONTAINERD2,
    ]);
  });
});

/**
 * Every shell file in the package (package.json "files"): a `.sh` name, or a `sh`/`bash` shebang
 * (the POSIX `kubestation` wrapper). Paths relative to the repository, sorted.
 */
function shippedShellFiles(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { files: string[] };
  const found: string[] = [];
  const visit = (relative: string): void => {
    const full = path.join(repoRoot, relative);
    if (!existsSync(full)) return;
    if (statSync(full).isDirectory()) {
      for (const entry of readdirSync(full)) visit(path.posix.join(relative, entry));
      return;
    }
    const head = readFileSync(full, 'utf8').slice(0, 100);
    if (relative.endsWith('.sh') || /^#!\s*\/(usr\/)?bin\/(env\s+)?(ba)?sh\b/.test(head))
      found.push(relative);
  };
  for (const entry of pkg.files) if (entry !== 'dist') visit(entry); // dist: the compiled JavaScript
  return found.sort();
}

describe('containerd config.toml', () => {
  it('version 2 (containerd 1.7): SystemdCgroup and sandbox_image under the grpc.v1.cri plugin', () => {
    const toml = parseToml(renderContainerdConfig(2)) as Record<string, any>;
    expect(toml.version).toBe(2);
    expect(toml.disabled_plugins).toEqual([]);
    const cri = toml.plugins['io.containerd.grpc.v1.cri'];
    expect(cri.sandbox_image).toBe(PINNED_SANDBOX_IMAGE);
    expect(cri.containerd.default_runtime_name).toBe('runc');
    expect(cri.containerd.runtimes.runc.runtime_type).toBe('io.containerd.runc.v2');
    expect(cri.containerd.runtimes.runc.options.SystemdCgroup).toBe(true);
    expect(cri.cni).toEqual({ bin_dir: '/opt/cni/bin', conf_dir: '/etc/cni/net.d' });
    expect(toml.plugins['io.containerd.cri.v1.runtime']).toBeUndefined();
  });

  it('version 3 (containerd 2.x): the cri.v1.runtime / cri.v1.images plugin ids', () => {
    const toml = parseToml(renderContainerdConfig(3, 'registry.k8s.io/pause:3.11')) as Record<string, any>;
    expect(toml.version).toBe(3);
    const runtime = toml.plugins['io.containerd.cri.v1.runtime'];
    expect(runtime.containerd.runtimes.runc.options.SystemdCgroup).toBe(true);
    expect(runtime.cni.bin_dir).toBe('/opt/cni/bin');
    expect(toml.plugins['io.containerd.cri.v1.images'].pinned_images.sandbox).toBe(
      'registry.k8s.io/pause:3.11',
    );
    expect(toml.plugins['io.containerd.grpc.v1.cri']).toBeUndefined();
  });

  it('holds the pinned pause image exactly once, quoted, so containerd.sh can swap it with sed', () => {
    for (const version of [2, 3] as const) {
      const text = renderContainerdConfig(version);
      expect(text.split(`"${PINNED_SANDBOX_IMAGE}"`)).toHaveLength(2);
      const swapped = execFileSync('sed', [`s|"${PINNED_SANDBOX_IMAGE}"|"registry.k8s.io/pause:9.9"|`], {
        input: text,
        encoding: 'utf8',
      });
      expect(JSON.stringify(parseToml(swapped))).toContain('registry.k8s.io/pause:9.9');
    }
  });
});

describe('seed determinism and instance id', () => {
  it('renders the same bytes for the same inputs, and a new instance-id when the content changes', async () => {
    const { inputs } = await labInputs();
    const spec = labSpec();
    const first = renderNodeSeed(spec, spec.controlPlane, inputs);
    expect(renderNodeSeed(spec, spec.controlPlane, inputs)).toEqual(first);
    expect(first.instanceId).toMatch(/^k8s-master-[0-9a-f]{12}$/);
    expect(yaml.load(first.metaData)).toEqual({
      'instance-id': first.instanceId,
      'local-hostname': 'k8s-master',
    });
    const changed = renderNodeSeed(
      labSpec([['time.ravnus.com]', 'time.ravnus.com, pool.ntp.org]']]),
      spec.controlPlane,
      inputs,
    );
    expect(changed.instanceId).not.toBe(first.instanceId);
  });

  it('every shell file the package ships passes shellcheck', () => {
    const scripts = shippedShellFiles();
    // The walk is not blind: the node scripts, their libraries, the bake and the POSIX wrapper are all in it.
    expect(scripts).toEqual(
      expect.arrayContaining([
        'cloud-init/bootstrap.sh',
        'cloud-init/lib/apt.sh',
        'cloud-init/lib/network.sh',
        'cloud-init/lib/containerd-package.sh',
        'cloud-init/stages/kubeadm-join.sh',
        'cloud-init/bake/bake.sh',
        'kubestation',
      ]),
    );
    const run = spawnSync('shellcheck', ['-x', '--severity=style', ...scripts], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(`${run.stdout}${run.stderr}`).toBe('');
    expect(run.status).toBe(0);
    // Each says its dialect: a shebang, or (a sourced library) a shellcheck shell= directive.
    for (const script of scripts)
      expect(readFileSync(path.join(repoRoot, script), 'utf8').slice(0, 200), script).toMatch(
        /^#!\/bin\/(ba)?sh\n|^# shellcheck shell=bash\n/,
      );
  });
});
