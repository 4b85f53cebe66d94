import { mkdir, writeFile } from 'node:fs/promises';
import { tempDir } from '../support/temp-dir.js';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { checkClusterSpec, loadClusterSpec, parseClusterSpec } from '../../src/config/load.js';
import { formatProblem, SpecError } from '../../src/config/problems.js';
import { resolveClusterSpec } from '../../src/config/resolve.js';
import type { ClusterFile } from '../../src/config/schema.js';
import { badSpecCases, seedLab, seedLabText } from './bad-spec-cases.js';
import { ADDONS } from '../../src/addons/catalog.js';
import { canonicalImage } from '../../src/template/golden.js';

function problemsOf(text: string): string[] {
  return checkClusterSpec(text, { sourcePath: '/lab/cluster.yaml' }).problems.map(formatProblem);
}

async function runCli(argv: string[], cwd = process.cwd(), env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
    env,
    cwd,
  });
  return { code, stdout, stderr };
}

describe('the shipped seed lab', () => {
  const spec = parseClusterSpec(seedLabText, { sourcePath: path.resolve('cluster.yaml') });

  it('validates clean with every value from the architecture document', () => {
    expect(spec.nodes.map((n) => [n.name, n.role, n.nics.nat.address, n.nics.hostOnly.address])).toEqual([
      ['k8s-master', 'control-plane', '192.168.5.11', '172.100.100.2'],
      ['k8s-worker1', 'worker', '192.168.5.12', '172.100.100.3'],
      ['k8s-worker2', 'worker', '192.168.5.13', '172.100.100.4'],
    ]);
    expect(spec.nodes.every((n) => n.cpus === 2 && n.memoryMiB === 4096 && n.diskGiB === 100)).toBe(true);
    expect(spec.networks.nat).toMatchObject({
      vmnet: 'vmnet8',
      gateway: '192.168.5.2',
      hostAddress: '192.168.5.1',
      dhcpRange: { start: '192.168.5.201', end: '192.168.5.254' },
    });
    expect(spec.networks.nat.subnet).toMatchObject({
      network: '192.168.5.0',
      mask: '255.255.255.0',
      prefix: 24,
    });
    expect(spec.networks.hostOnly).toMatchObject({
      vmnet: 'vmnet1',
      hostAddress: '172.100.100.1',
      dhcpRange: { start: '172.100.100.128', end: '172.100.100.254' },
    });
    expect(spec.networks.hostOnly.subnet.mask).toBe('255.255.255.0');
    expect(spec.os).toMatchObject({
      user: { name: 'pista' },
      timezone: 'Asia/Seoul',
      locale: 'ko_KR.UTF-8',
      ntpServers: ['time.ravnus.com'],
      dnsServers: ['8.8.8.8', '8.8.4.4'],
      swap: false,
    });
    expect(spec.os.kernelModules).toEqual(['overlay', 'br_netfilter']);
    expect(spec.os.sysctl).toEqual({
      'net.ipv4.ip_forward': '1',
      'net.bridge.bridge-nf-call-iptables': '1',
      'net.bridge.bridge-nf-call-ip6tables': '1',
    });
    expect(spec.kubernetes).toMatchObject({
      minor: '1.37',
      apiEndpoint: '172.100.100.2:6443',
      controlPlaneTaint: true,
    });
    expect(spec.kubernetes.podSubnet.cidr).toBe('10.244.0.0/16');
    expect(spec.kubernetes.serviceSubnet.cidr).toBe('10.96.0.0/12');
    expect(spec.kubernetes.cni.name).toBe('flannel');
    expect(spec.kubernetes.packageRepository).toBe('https://pkgs.k8s.io/core:/stable:/v1.37/deb/');
    expect(spec.firewall.enabled).toBe(true);
    expect(spec.vmware.vmrestUrl).toBe('http://127.0.0.1:8697/api');
    expect(spec.controlPlane.name).toBe('k8s-master');
    expect(spec.workers.map((w) => w.name)).toEqual(['k8s-worker1', 'k8s-worker2']);
    expect(spec.addons).toEqual({
      loadBalancer: { enabled: true, pool: { start: '172.100.100.64', end: '172.100.100.95' } },
      storage: { enabled: true },
      metrics: { enabled: true },
      gateway: { enabled: true, address: '172.100.100.64' },
    });
  });

  it('derives stable, distinct MACs inside VMware static range, ens33 on NAT and ens37 on host-only', () => {
    const macs = spec.nodes.flatMap((n) => [n.nics.nat.mac, n.nics.hostOnly.mac]);
    expect(new Set(macs).size).toBe(6);
    for (const mac of macs) {
      expect(mac).toMatch(/^00:50:56:[0-3][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/);
    }
    const again = parseClusterSpec(seedLabText, { sourcePath: path.resolve('cluster.yaml') });
    expect(again.nodes.map((n) => n.nics.nat.mac)).toEqual(spec.nodes.map((n) => n.nics.nat.mac));
    const renamed = seedLab();
    renamed.name = 'other-lab';
    const other = parseClusterSpec(yaml.dump(renamed), { sourcePath: '/x/cluster.yaml' });
    expect(other.nodes[0]!.nics.nat.mac).not.toBe(spec.nodes[0]!.nics.nat.mac);
    expect(spec.nodes[0]!.nics.nat).toMatchObject({
      guestName: 'ens33',
      pciSlot: 33,
      vmxIndex: 0,
      vmnet: 'vmnet8',
    });
    expect(spec.nodes[0]!.nics.hostOnly).toMatchObject({
      guestName: 'ens37',
      pciSlot: 37,
      vmxIndex: 1,
      vmnet: 'vmnet1',
    });
  });

  it('applies defaults when only the required keys are given', () => {
    const minimal = seedLab();
    for (const key of ['stateDir', 'nodeDefaults', 'os', 'kubernetes', 'firewall', 'vmware', 'addons'])
      delete minimal[key];
    delete minimal.networks.hostOnly.dhcpRange;
    const spec2 = parseClusterSpec(yaml.dump(minimal), { sourcePath: '/lab/cluster.yaml' });
    const { sourcePath: _a, ...withDefaults } = spec2;
    const { sourcePath: _b, ...shipped } = parseClusterSpec(seedLabText, { sourcePath: '/lab/cluster.yaml' });
    expect(withDefaults).toEqual(shipped);
  });

  it('resolves the state folder against cluster.yaml on a Windows host', () => {
    const doc = seedLab() as ClusterFile;
    const windows = resolveClusterSpec(doc, {
      sourcePath: 'C:\\Users\\Pista Kim\\labs\\cluster.yaml',
      cwd: 'C:\\',
      pathApi: path.win32,
    });
    expect(windows.stateDir).toBe('C:\\Users\\Pista Kim\\labs\\.kubestation');
    const elsewhere = resolveClusterSpec(
      { ...doc, stateDir: 'D:\\kubestation-state' },
      { sourcePath: 'C:\\labs\\cluster.yaml', cwd: 'C:\\', pathApi: path.win32 },
    );
    expect(elsewhere.stateDir).toBe('D:\\kubestation-state');
  });

  it('accepts a Windows folder for vmware.installFolder', () => {
    const doc = seedLab();
    doc.vmware.installFolder = 'C:\\Program Files (x86)\\VMware\\VMware Workstation';
    expect(problemsOf(yaml.dump(doc))).toEqual([]);
  });
});

describe('bad specs', () => {
  it(`has at least 40 cases`, () => {
    expect(badSpecCases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(badSpecCases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const doc = seedLab();
    c.change!(doc);
    expect(problemsOf(yaml.dump(doc))).toEqual(c.problems);
  });

  it('takes an http:// vmrest URL only for this PC, https:// for any host', () => {
    for (const url of [
      'http://127.0.0.1:8697/api',
      'http://127.20.1.9:8697/api',
      'http://localhost:8697/api',
      'http://LOCALHOST/api',
      'http://[::1]:8697/api',
      'https://192.168.1.20:8697/api',
      'https://vmware-host.example:8697/api',
    ]) {
      const doc = seedLab();
      doc.vmware = { ...doc.vmware, vmrestUrl: url };
      expect(problemsOf(yaml.dump(doc)), url).toEqual([]);
    }
    for (const url of ['http://vmware-host:8697/api', 'http://128.0.0.1/api', 'http://[::2]:8697/api']) {
      const doc = seedLab();
      doc.vmware = { ...doc.vmware, vmrestUrl: url };
      expect(problemsOf(yaml.dump(doc)), url).toEqual([
        expect.stringMatching(/^vmware\.vmrestUrl: .* unencrypted across the network .*; use https:\/\//),
      ]);
    }
  });

  it('reports every problem at once, not only the first', () => {
    const doc = seedLab();
    doc.nodes[1].natAddress = '192.168.5.201';
    doc.os.timezone = 'Asia/Seul';
    doc.kubernetes.cni.name = 'weave';
    doc.nmae = 'x';
    const problems = problemsOf(yaml.dump(doc));
    expect(problems).toHaveLength(4);
    expect(problems.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['nodes[1].natAddress', 'os.timezone', 'kubernetes.cni.name', 'nmae']),
    );
  });

  it('throws a SpecError naming the file and listing the problems', () => {
    const doc = seedLab();
    doc.nodes[0].cpus = 1;
    try {
      parseClusterSpec(yaml.dump(doc), { sourcePath: 'C:\\labs\\cluster.yaml' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SpecError);
      expect((error as SpecError).message).toBe(
        "C:\\labs\\cluster.yaml: 1 problem\n  - nodes[0].cpus: 1 vCPU is below kubeadm's minimum of 2 for a control plane; set cpus: 2 or more",
      );
      // The file that was read, and the command that checks that file (not the default cluster.yaml).
      expect((error as SpecError).fix).toBe(
        'correct the fields above in C:\\labs\\cluster.yaml, then check it again with `.\\kubestation validate --cluster C:\\labs\\cluster.yaml`',
      );
    }
  });
});

describe('add-ons and the host-only DHCP range', () => {
  it('default to the subnet: DHCP .128–.254, the pool .64–.95, the Gateway on its first address, all on', () => {
    const doc = seedLab();
    delete doc.addons;
    delete doc.networks.hostOnly.dhcpRange;
    doc.networks.hostOnly = { ...doc.networks.hostOnly, subnet: '10.0.50.0/24', hostAddress: '10.0.50.1' };
    doc.nodes.forEach(
      (n: { hostOnlyAddress: string }, i: number) => (n.hostOnlyAddress = `10.0.50.${i + 2}`),
    );
    const spec = parseClusterSpec(yaml.dump(doc), { sourcePath: '/lab/cluster.yaml' });
    expect(spec.networks.hostOnly.dhcpRange).toEqual({ start: '10.0.50.128', end: '10.0.50.254' });
    expect(spec.addons).toEqual({
      loadBalancer: { enabled: true, pool: { start: '10.0.50.64', end: '10.0.50.95' } },
      storage: { enabled: true },
      metrics: { enabled: true },
      gateway: { enabled: true, address: '10.0.50.64' },
    });
  });

  it('turns an add-on off, and skips its checks then (a Kubernetes minor it does not support, a pool it does not use)', () => {
    const doc = seedLab();
    doc.kubernetes.version = '1.33';
    doc.addons.metrics.enabled = false;
    doc.addons.loadBalancer = { enabled: false, pool: { start: '10.9.9.9', end: '10.9.9.1' } };
    doc.addons.gateway = { enabled: false };
    expect(problemsOf(yaml.dump(doc))).toEqual([]);
    const spec = parseClusterSpec(yaml.dump(doc), { sourcePath: '/lab/cluster.yaml' });
    expect([
      spec.addons.metrics.enabled,
      spec.addons.loadBalancer.enabled,
      spec.addons.storage.enabled,
    ]).toEqual([false, false, true]);
  });

  it('places an add-on problem at its line and column, as validate --json reports it', async () => {
    const dir = tempDir('kubestation-cli-');
    const text = seedLabText.replace('    address: 172.100.100.64 ', '    address: 172.100.100.100 ');
    expect(text).not.toBe(seedLabText);
    await writeFile(path.join(dir, 'cluster.yaml'), text);
    const json = await runCli(['validate', '--json'], dir);
    expect(json.code).toBe(1);
    const line = text.split('\n').findIndex((l) => l.includes('address: 172.100.100.100')) + 1;
    expect(JSON.parse(json.stdout).problems).toEqual([
      expect.objectContaining({
        path: 'addons.gateway.address',
        line,
        column: 14,
        message: expect.stringContaining('use one in the pool, e.g. 172.100.100.64'),
      }),
    ]);
  });
});

describe('files that are not a cluster spec', () => {
  const lineOf = (text: string) => seedLabText.split('\n').indexOf(text) + 1;

  it('malformed YAML gives line and column', () => {
    const badLine = lineOf('  - name: k8s-worker1') + 1;
    expect(
      problemsOf(seedLabText.replace('  - name: k8s-worker1\n', '  - name: k8s-worker1\n   role: [worker\n')),
    ).toEqual([
      `(yaml line ${badLine}, column 4): bad indentation of a sequence entry; fix the YAML syntax there (indent with spaces, "key: value", one key per line)`,
    ]);
  });

  it('a Windows path in double quotes is refused at its line and column, with single quotes or none as the fix', () => {
    const folder = 'C:\\Program Files (x86)\\VMware\\VMware Workstation';
    const withFolder = (value: string) =>
      seedLabText.replace(/^vmware:\n/m, `vmware:\n  installFolder: ${value}\n`);
    const line = lineOf('vmware:') + 1;
    expect(problemsOf(withFolder(`"${folder}"`))).toEqual([
      `(yaml line ${line}, column 18): "${folder}" is a Windows path in double quotes, where YAML reads each backslash as the start of an escape sequence (\\n, \\t, \\U…), so the path would be refused or changed; write it in single quotes ('${folder}') or without quotes`,
    ]);
    // Silently wrong otherwise: "\n" would be a line break in the folder name.
    expect(problemsOf(withFolder('"D:\\new\\tools"'))).toEqual([
      expect.stringContaining(
        `(yaml line ${line}, column 18): "D:\\new\\tools" is a Windows path in double quotes`,
      ),
    ]);
    // The forms that keep the path: single quotes, no quotes, escaped backslashes; a comment is no value.
    for (const ok of [
      `'${folder}'`,
      folder,
      `"${folder.replaceAll('\\', '\\\\')}"`,
      `'${folder}' # not "C:\\x"`,
    ]) {
      const spec = parseClusterSpec(withFolder(ok), { sourcePath: '/lab/cluster.yaml' });
      expect(spec.vmware.installFolder).toBe(folder);
    }
    // Any other bad escape in double quotes says the same.
    expect(problemsOf(withFolder('"\\\\server\\share"'))).toEqual([
      expect.stringMatching(
        /^\(yaml line \d+, column \d+\): unknown escape sequence; in double quotes a backslash starts an escape sequence: write Windows paths in single quotes or without quotes$/,
      ),
    ]);
  });

  it('a key written twice is a YAML error at its line', () => {
    expect(problemsOf(seedLabText.replace('name: k8s-lab\n', 'name: k8s-lab\nname: again\n'))).toEqual([
      expect.stringMatching(
        new RegExp(`^\\(yaml line ${lineOf('name: k8s-lab') + 1}, column 1\\): duplicated mapping key`),
      ),
    ]);
  });

  it('empty, comment-only, scalar and list documents fail cleanly', () => {
    expect(problemsOf('')).toEqual([
      '(file): is empty; start from the cluster.yaml shipped with kubestation',
    ]);
    expect(problemsOf('# nothing here\n\n')).toEqual([
      '(file): is empty; start from the cluster.yaml shipped with kubestation',
    ]);
    const notMapping =
      '(top level): expected a mapping with apiVersion, kind, name, networks and nodes; see the shipped cluster.yaml';
    expect(problemsOf('just words')).toEqual([notMapping]);
    expect(problemsOf('- a\n- b\n')).toEqual([notMapping]);
  });

  it('binary garbage, a missing file and a folder are refused with the fix', async () => {
    const dir = tempDir('kubestation-spec-');
    await writeFile(
      path.join(dir, 'garbage.yaml'),
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x01]),
    );
    await writeFile(path.join(dir, 'latin1.yaml'), Buffer.from('name: caf\xe9\n', 'latin1'));
    await mkdir(path.join(dir, 'folder.yaml'));
    const message = async (file: string) => {
      try {
        await loadClusterSpec(path.join(dir, file));
        return 'loaded';
      } catch (error) {
        return (error as SpecError).problems.map(formatProblem).join('\n');
      }
    };
    expect(await message('garbage.yaml')).toBe(
      `(file): ${path.join(dir, 'garbage.yaml')} is a binary file, not YAML text; pass the path of cluster.yaml with --cluster`,
    );
    expect(await message('latin1.yaml')).toBe(
      `(file): ${path.join(dir, 'latin1.yaml')} is not UTF-8 text; save cluster.yaml as UTF-8`,
    );
    expect(await message('missing.yaml')).toBe(
      `(file): ${path.join(dir, 'missing.yaml')} does not exist; run from the folder holding cluster.yaml or pass --cluster <path>`,
    );
    expect(await message('folder.yaml')).toBe(
      `(file): ${path.join(dir, 'folder.yaml')} is not a file; pass the path of cluster.yaml with --cluster`,
    );
  });
});

describe('kubestation validate', () => {
  it('prints a readable summary of the lab and exits 0', async () => {
    const { code, stdout } = await runCli(['validate']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/cluster\.yaml: valid/);
    expect(stdout).toMatch(/cluster k8s-lab: Kubernetes 1\.37, API 172\.100\.100\.2:6443, CNI flannel/);
    expect(stdout).toContain('host-only vmnet1 172.100.100.0/24 DHCP 172.100.100.128–172.100.100.254');
    expect(stdout).toContain(
      'add-ons: loadBalancer MetalLB v0.16.1 pool 172.100.100.64–172.100.100.95; storage local-path-provisioner v0.0.37; metrics metrics-server v0.9.0; gateway NGINX Gateway Fabric v2.6.7 at 172.100.100.64',
    );
    const spec = await loadClusterSpec('cluster.yaml');
    for (const node of spec.nodes) {
      expect(stdout).toMatch(
        new RegExp(
          `${node.name}\\s+${node.role}.*${node.nics.nat.address}/24 ${node.nics.nat.mac}.*${node.nics.hostOnly.address}/24 ${node.nics.hostOnly.mac}`,
        ),
      );
    }
  });

  it('refuses VMREST_URL in clear text to another machine, and a pin without https, as the client would', async () => {
    const clear = await runCli(['validate'], process.cwd(), { VMREST_URL: 'http://vmware-host:8697/api' });
    expect(clear.code).toBe(1);
    expect(clear.stderr).toContain(
      "environment: the vmrest URL http://vmware-host:8697/api would send vmrest's username and password (HTTP Basic auth) unencrypted across the network",
    );
    expect(clear.stderr).toContain('use https://vmware-host:8697/api');
    const pin = await runCli(['validate', '--json'], process.cwd(), { VMREST_CERT_SHA256: 'AB:CD' });
    expect(pin.code).toBe(1);
    const report = JSON.parse(pin.stdout);
    expect(report.valid).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({
        code: 'VMREST_PIN_WITHOUT_TLS',
        message: expect.stringContaining('a certificate pin on a connection without TLS pins nothing'),
      }),
    ]);
    const local = await runCli(['validate'], process.cwd(), { VMREST_URL: 'http://localhost:8697/api' });
    expect(local.code).toBe(0);
  });

  it('gives the same as JSON with --json', async () => {
    const { code, stdout } = await runCli(['validate', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.valid).toBe(true);
    expect(report.summary.nodes.map((n: { name: string }) => n.name)).toEqual([
      'k8s-master',
      'k8s-worker1',
      'k8s-worker2',
    ]);
    expect(report.summary.nodes[0].hostOnly).toMatchObject({
      interface: 'ens37',
      address: '172.100.100.2/24',
    });
  });

  it('exits non-zero with every message for a bad spec, as text and as JSON', async () => {
    const dir = tempDir('kubestation-cli-');
    const doc = seedLab();
    doc.nodes[2].natAddress = '192.168.5.12';
    doc.os.locale = 'Korean';
    await writeFile(path.join(dir, 'cluster.yaml'), yaml.dump(doc));
    const text = await runCli(['validate', '--cluster', path.join(dir, 'cluster.yaml')]);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain('2 problems');
    expect(text.stderr).toMatch(
      /  - nodes\[2\]\.natAddress \(line \d+, column \d+\): 192\.168\.5\.12 is already used by node "k8s-worker1" \(nodes\[1\]\); give node "k8s-worker2" \(nodes\[2\]\) its own address, a free one in 192\.168\.5\.3–192\.168\.5\.200/,
    );
    expect(text.stderr).toMatch(
      /  - os\.locale \(line \d+, column \d+\): "Korean" is not a UTF-8 locale name/,
    );
    const json = await runCli(['validate', '--json'], dir);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).problems).toMatchObject([
      {
        path: 'nodes[2].natAddress',
        line: expect.any(Number),
        column: expect.any(Number),
        message:
          '192.168.5.12 is already used by node "k8s-worker1" (nodes[1]); give node "k8s-worker2" (nodes[2]) its own address, a free one in 192.168.5.3–192.168.5.200',
      },
      {
        path: 'os.locale',
        message:
          '"Korean" is not a UTF-8 locale name of the form language_TERRITORY.UTF-8; use "ko_KR.UTF-8"',
      },
    ]);
  });

  it('warns, still valid, when the golden template holds a containerd the pinned Kubernetes does not support', async () => {
    const dir = tempDir('kubestation-cli-');
    const golden = (containerd: string) => ({
      formatVersion: 1,
      golden: {
        formatVersion: 1,
        bakedAt: '2026-11-01T00:00:00Z',
        imageSha256: 'ab',
        kubernetes: { minor: '1.35', version: '1.35.4', packages: {} },
        containerd: { package: 'containerd', version: containerd },
        cni: { name: 'flannel', version: 'v0.28.9' },
        images: [],
      },
    });
    const writeLab = async (version: string, containerd: string) => {
      const doc = seedLab();
      doc.stateDir = 'state';
      doc.kubernetes = { ...doc.kubernetes, version };
      await writeFile(path.join(dir, 'cluster.yaml'), yaml.dump(doc));
      await mkdir(path.join(dir, 'state', 'template'), { recursive: true });
      await writeFile(
        path.join(dir, 'state', 'template', 'template.json'),
        JSON.stringify(golden(containerd)),
      );
    };
    await writeLab('1.37.2', '1.7.28-0ubuntu1~24.04.1');
    const text = await runCli(['validate'], dir);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      'warning: the golden template kubestation-noble-template holds containerd 1.7.28-0ubuntu1~24.04.1, which Kubernetes 1.37.2 does not support (it needs containerd 2.0 or newer)',
    );
    expect(text.stdout).toContain('.\\kubestation build-template');
    const json = JSON.parse((await runCli(['validate', '--json'], dir)).stdout);
    expect(json.valid).toBe(true);
    expect(json.warnings).toEqual([expect.stringContaining('does not support')]);
    // Kubernetes 1.35 still runs containerd 1.7; and a template with containerd 2 is fine for 1.37.
    await writeLab('1.35.4', '1.7.28-0ubuntu1~24.04.1');
    expect((await runCli(['validate'], dir)).stdout).not.toContain('warning:');
    await writeLab('1.37.2', '2.1.4-1');
    expect((await runCli(['validate'], dir)).stdout).not.toContain('warning:');
  });

  it('compares the golden template with cluster.yaml: first boot downloads nothing, or what differs and what it costs', async () => {
    const dir = tempDir('kubestation-cli-');
    const doc = seedLab();
    doc.stateDir = 'state';
    doc.kubernetes = { ...doc.kubernetes, version: '1.37.2' };
    await writeFile(path.join(dir, 'cluster.yaml'), yaml.dump(doc));
    const notBuilt = await runCli(['validate'], dir);
    expect(notBuilt.stdout).toContain(
      'golden template: not built yet; `.\\kubestation up` builds and bakes it, then a first boot downloads nothing',
    );
    const flannel = 'https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml';
    const state = (version: string) => ({
      formatVersion: 1,
      image: {
        fileName: 'noble.ova',
        sha256: 'ab',
        url: 'https://cloud-images.ubuntu.com/x.ova',
        downloadedAt: '2026-11-01T00:00:00Z',
      },
      builtAt: '2026-11-01T00:00:00Z',
      golden: {
        formatVersion: 1,
        bakedAt: '2026-11-01T00:00:00Z',
        imageSha256: 'ab',
        kubernetes: { minor: '1.37', version, packages: {} },
        containerd: { package: 'containerd', version: '2.2.1-0ubuntu1~24.04.3' },
        cni: {
          name: 'flannel',
          version: 'v0.28.9',
          manifests: [{ url: flannel, file: '1-kube-flannel.yml', sha256: 'c'.repeat(64) }],
        },
        images: [
          `registry.k8s.io/kube-apiserver:v${version}`,
          'registry.k8s.io/e2e-test-images/agnhost:2.52',
          // As containerd lists what the bake pulled from the catalogue's images.
          ...ADDONS.flatMap((a) => a.images).map(canonicalImage),
        ],
      },
    });
    await mkdir(path.join(dir, 'state', 'template'), { recursive: true });
    const statePath = path.join(dir, 'state', 'template', 'template.json');
    await writeFile(statePath, JSON.stringify(state('1.37.2')));
    expect((await runCli(['validate'], dir)).stdout).toContain(
      'golden template: matches cluster.yaml: a first boot downloads nothing\n',
    );
    expect(JSON.parse((await runCli(['validate', '--json'], dir)).stdout).golden).toEqual({
      templateBuilt: true,
      matches: true,
      differences: [],
    });

    await writeFile(statePath, JSON.stringify(state('1.37.1')));
    const differs = await runCli(['validate'], dir);
    expect(differs.code).toBe(0); // still valid: the bake is redone by up
    expect(differs.stdout).toContain(
      'golden template: the template holds Kubernetes 1.37.1, cluster.yaml asks for 1.37.2: every node downloads containerd and the Kubernetes packages (about 2 minutes per node), the control-plane and CNI images (about 2 minutes per node) at first boot (`.\\kubestation up` bakes it again)',
    );
    expect(JSON.parse((await runCli(['validate', '--json'], dir)).stdout).golden).toMatchObject({
      matches: false,
      differences: [{ downloads: ['packages', 'images'] }],
    });

    // A bake from before the add-ons: their images come when build-vms applies them, not at first boot.
    const beforeAddons = state('1.37.2');
    beforeAddons.golden.images = beforeAddons.golden.images.slice(0, 2);
    await writeFile(statePath, JSON.stringify(beforeAddons));
    expect((await runCli(['validate'], dir)).stdout).toMatch(
      /golden template: the template does not hold the images of MetalLB v[\d.]+, local-path-provisioner v[\d.]+, metrics-server v[\d.]+, NGINX Gateway Fabric v[\d.]+: every node downloads the add-ons' images when build-vms applies the add-ons \(`\.\\kubestation up` bakes it again\)/,
    );
  });
});
