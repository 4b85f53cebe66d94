/**
 * The golden bake's seed, checked by the tools that consume it (cloud-init's
 * schema check, its network renderer, shellcheck, bash), and bake.sh run for
 * real against stand-ins for apt, kubeadm, crictl and friends.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asset } from '../../src/assets.js';
import { parseClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { FIRST_MINOR_NEEDING_CONTAINERD2 } from '../../src/config/defaults.js';
import { BAKE_LIBRARIES, bakeEnv, renderBakeSeed, shellQuote } from '../../src/template/bake-seed.js';
import { parseProgressLine } from '../../src/progress/protocol.js';
import { parseNetworkFailure } from '../../src/progress/network-causes.js';
import { canonicalImage, decodeGoldenMarker } from '../../src/template/golden.js';
import { addonImages } from '../../src/addons/catalog.js';

let dir: string;
let spec: ClusterSpec;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ks-bake-'));
  spec = parseClusterSpec(await readFile(path.resolve('cluster.yaml'), 'utf8'), {
    sourcePath: path.join(dir, 'cluster.yaml'),
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function seedFiles(s: ClusterSpec = spec): Promise<Record<string, string>> {
  const files = await renderBakeSeed(s, { bakeId: '20260901100000' });
  return Object.fromEntries(files.map((f) => [f.name, f.content]));
}

describe('image references as containerd lists them', () => {
  it('gives Docker Hub names their registry and library/, and an untagged reference :latest', () => {
    expect(canonicalImage('docker.io/library/busybox')).toBe('docker.io/library/busybox:latest');
    expect(canonicalImage('busybox')).toBe('docker.io/library/busybox:latest');
    expect(canonicalImage('rancher/local-path-provisioner:v0.0.37')).toBe(
      'docker.io/rancher/local-path-provisioner:v0.0.37',
    );
    expect(canonicalImage('quay.io/metallb/speaker:v0.16.1')).toBe('quay.io/metallb/speaker:v0.16.1');
    expect(canonicalImage('localhost:5000/x')).toBe('localhost:5000/x:latest');
    expect(canonicalImage('ghcr.io/nginx/nginx-gateway-fabric/nginx@sha256:' + 'a'.repeat(64))).toBe(
      'ghcr.io/nginx/nginx-gateway-fabric/nginx@sha256:' + 'a'.repeat(64),
    );
  });
});

describe('bake seed', () => {
  it('is a valid cloud-config that embeds bake.sh and its settings unchanged', async () => {
    const files = await seedFiles();
    const userData = path.join(dir, 'user-data');
    await writeFile(userData, files['user-data']!);
    const schema = await execa('cloud-init', ['schema', '-c', userData], { reject: false, all: true });
    // cloud-init 22.4 (this machine) wrongly rejects `users: []`; 23.2+ accepts it (canonical/cloud-init
    // PR #2124) and noble runs 24.x. Any other schema error fails the test.
    const errors = /schema errors: (.*)/.exec(schema.all ?? '')?.[1]?.split(/, (?=\w[\w.]*: )/) ?? [];
    expect(errors.filter((e) => e !== 'users: [] is too short')).toEqual([]);
    if (errors.length === 0) expect(schema.all).toContain('Valid cloud-config');

    const doc = yaml.load(files['user-data']!) as {
      users: unknown[];
      write_files: Array<{ path: string; content: string; encoding: string; permissions: string }>;
      runcmd: string[][];
    };
    expect(doc.users).toEqual([]); // no default "ubuntu" login baked into every node
    for (const name of BAKE_LIBRARIES) {
      const lib = doc.write_files.find((f) => f.path === `/usr/local/lib/kubestation-bake/${name}`)!;
      expect(Buffer.from(lib.content, 'base64').toString(), name).toBe(
        await readFile(asset('cloud-init', 'lib', name), 'utf8'),
      );
    }
    const script = doc.write_files.find((f) => f.path === '/usr/local/sbin/kubestation-bake')!;
    expect(script.permissions).toBe('0755');
    expect(Buffer.from(script.content, 'base64').toString()).toBe(
      await readFile(asset('cloud-init', 'bake', 'bake.sh'), 'utf8'),
    );
    const markerWriter = doc.write_files.find(
      (f) => f.path === '/usr/local/lib/kubestation-bake/golden-marker.py',
    )!;
    expect(Buffer.from(markerWriter.content, 'base64').toString()).toBe(
      await readFile(asset('cloud-init', 'bake', 'golden-marker.py'), 'utf8'),
    );
    const env = doc.write_files.find((f) => f.path === '/etc/kubestation/bake.env')!;
    expect(Buffer.from(env.content, 'base64').toString()).toBe(bakeEnv(spec));
    // The guest's containerd-2 threshold comes from the one constant (lib/containerd-package.sh reads it).
    expect(bakeEnv(spec)).toContain(`\nCONTAINERD2_FIRST_MINOR='${FIRST_MINOR_NEEDING_CONTAINERD2}'\n`);
    expect(doc.runcmd).toEqual([['/usr/local/sbin/kubestation-bake']]);
    expect(files['meta-data']).toBe(
      'instance-id: kubestation-bake-20260901100000\nlocal-hostname: kubestation-bake\n',
    );
  });

  it('brings up ens33 with DHCP and the spec DNS servers (rendered by cloud-init to netplan)', async () => {
    const files = await seedFiles();
    await writeFile(path.join(dir, 'network-config'), files['network-config']!);
    const out = path.join(dir, 'out');
    await execa('cloud-init', [
      'devel',
      'net-convert',
      '-p',
      path.join(dir, 'network-config'),
      '-k',
      'yaml',
      '-d',
      out,
      '-D',
      'ubuntu',
      '-O',
      'netplan',
    ]);
    const netplan = yaml.load(
      await readFile(path.join(out, 'etc', 'netplan', '50-cloud-init.yaml'), 'utf8'),
    ) as { network: { ethernets: Record<string, unknown> } };
    expect(netplan.network.ethernets).toEqual({
      ens33: { dhcp4: true, nameservers: { addresses: ['8.8.8.8', '8.8.4.4'] } },
    });
  });

  it('writes bake.env values that bash reads back exactly, quotes included', async () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    const pinned = {
      ...spec,
      kubernetes: {
        ...spec.kubernetes,
        patch: '1.37.2',
        cni: {
          ...spec.kubernetes.cni,
          manifestUrls: ['http://127.0.0.1:1/a b.yml', "http://127.0.0.1:1/it's.yml"],
        },
      },
    };
    await writeFile(path.join(dir, 'bake.env'), bakeEnv(pinned));
    const { stdout } = await execa('bash', [
      '-c',
      '. "$1"; printf "%s\\n" "$KUBERNETES_MINOR" "$KUBERNETES_PATCH" "$PACKAGE_REPOSITORY" "$CNI_NAME" "$CNI_MANIFEST_URLS"',
      '_',
      path.join(dir, 'bake.env'),
    ]);
    expect(stdout.split('\n')).toEqual([
      '1.37',
      '1.37.2',
      'https://pkgs.k8s.io/core:/stable:/v1.37/deb/',
      'flannel',
      "http://127.0.0.1:1/a b.yml http://127.0.0.1:1/it's.yml",
    ]);
  });

  it('passes shellcheck', async () => {
    const result = await execa('shellcheck', ['-x', asset('cloud-init', 'bake', 'bake.sh')], {
      reject: false,
      all: true,
    });
    expect(result.all).toBe('');
    expect(result.exitCode).toBe(0);
  });
});

/**
 * Stand-ins for the guest's commands: each appends its argv to calls.log and
 * prints what the real one would for the bake's purposes.
 */
async function writeGuestCommands(
  bin: string,
  options: { failApt?: boolean; noRoute?: boolean } = {},
): Promise<void> {
  await mkdir(bin, { recursive: true });
  const log = path.join(bin, 'calls.log');
  const stub = (body: string) =>
    `#!/bin/bash\necho "$(basename "$0") $*" >>${JSON.stringify(log)}\n${body}\n`;
  const commands: Record<string, string> = {
    // A manifest is written where -o says (the bake keeps it for the nodes).
    curl: `out=/dev/stdout; while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done; case "$out $*" in *Release.key*) echo "-----BEGIN PGP PUBLIC KEY BLOCK-----";; *) printf 'spec:\\n  containers:\\n  - name: x\\n    image: ghcr.io/flannel-io/flannel:v0.28.9\\n  initContainers:\\n  - image: "ghcr.io/flannel-io/flannel-cni-plugin:v1.7.1-flannel1"\\n' >"$out";; esac`,
    gpg: 'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then cat >"$2"; exit 0; fi; shift; done',
    'apt-get': [
      // What apt would read at update time: the source line and the keyring it names.
      `case " $* " in *" update "*) cp "$KUBESTATION_BAKE_ROOT/etc/apt/sources.list.d/kubernetes.list" ${JSON.stringify(path.join(bin, 'sources-at-update'))}; test -s "$KUBESTATION_BAKE_ROOT/etc/apt/keyrings/kubernetes-apt-keyring.gpg";; esac`,
      options.failApt
        ? 'case " $* " in *" install "*) echo "E: Unable to locate package kubeadm" >&2; exit 100;; esac'
        : '',
    ].join('\n'),
    'apt-cache':
      'case "$1" in policy) echo "  Candidate: 2.2.1-0ubuntu1~24.04.3";; *) echo "   kubeadm | 1.37.3-1.1 | https://pkgs.k8s.io/core:/stable:/v1.37/deb  Packages"; echo "   kubeadm | 1.37.2-1.1 | https://pkgs.k8s.io/core:/stable:/v1.37/deb  Packages";; esac',
    // The way out (lib/network.sh): a default route, names resolve, the gateway answers.
    ip: options.noRoute
      ? 'case "$*" in *brief*) echo "ens33            UP             ";; esac'
      : 'case "$*" in *route*) echo "default via 192.168.5.2 dev ens33 proto dhcp src 192.168.5.130 metric 100";; esac',
    getent: 'echo "127.0.0.2       STREAM $2"',
    ping: '',
    'apt-mark': '',
    'dpkg-query': 'case "$3" in containerd) printf "2.2.1-0ubuntu1~24.04.3";; *) printf "1.37.2-1.1";; esac',
    systemctl: '',
    kubeadm: 'case "$1" in version) echo v1.37.2;; esac',
    crictl: `case "$*" in *images*) echo '{"images":[{"id":"sha256:a1","repoTags":["registry.k8s.io/kube-apiserver:v1.37.2","registry.k8s.io/pause:3.10.1"],"repoDigests":["registry.k8s.io/kube-apiserver@sha256:d1"]},{"id":"sha256:f1","repoTags":["ghcr.io/flannel-io/flannel:v0.28.9"]}]}';; esac`,
    'systemd-run': '',
    'cloud-init': '',
  };
  for (const [name, body] of Object.entries(commands)) {
    await writeFile(path.join(bin, name), stub(body));
    await chmod(path.join(bin, name), 0o755);
  }
}

async function progressLines(root: string): Promise<string[]> {
  return (await readFile(path.join(root, 'var', 'log', 'kubestation-bake-progress.log'), 'utf8'))
    .trim()
    .split('\n');
}

async function runBake(root: string, bin: string, env: string) {
  await mkdir(path.join(root, 'etc', 'kubestation'), { recursive: true });
  await mkdir(path.join(root, 'dev'), { recursive: true });
  await writeFile(path.join(root, 'etc', 'kubestation', 'bake.env'), env);
  await writeFile(path.join(root, 'dev', 'ttyS0'), '');
  await mkdir(path.join(root, 'usr', 'local', 'lib', 'kubestation-bake'), { recursive: true });
  for (const name of BAKE_LIBRARIES) {
    await writeFile(
      path.join(root, 'usr', 'local', 'lib', 'kubestation-bake', name),
      await readFile(asset('cloud-init', 'lib', name)),
    );
  }
  await writeFile(
    path.join(root, 'usr', 'local', 'lib', 'kubestation-bake', 'golden-marker.py'),
    await readFile(asset('cloud-init', 'bake', 'golden-marker.py')),
  );
  return execa('bash', [asset('cloud-init', 'bake', 'bake.sh')], {
    reject: false,
    env: { KUBESTATION_BAKE_ROOT: root, PATH: `${bin}:${process.env.PATH}` },
  });
}

// bake.sh runs for real (bash, its network check, stand-ins): seconds each on a loaded machine.
describe('bake.sh', { timeout: 120_000 }, () => {
  it('installs the pinned release, pulls control-plane and CNI images, writes golden.json, reports it, then seals', async () => {
    const root = path.join(dir, 'root');
    const bin = path.join(dir, 'bin');
    await writeGuestCommands(bin);
    const pinned = { ...spec, kubernetes: { ...spec.kubernetes, patch: '1.37.2' } };
    const result = await runBake(root, bin, bakeEnv(pinned));
    expect(result.exitCode).toBe(0);

    const calls = (await readFile(path.join(bin, 'calls.log'), 'utf8')).trim().split('\n');
    expect(calls).toContain(
      'apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold -y -q --allow-change-held-packages --allow-downgrades install ethtool ufw open-vm-tools curl gpg ca-certificates conntrack containerd kubelet=1.37.2-1.1 kubeadm=1.37.2-1.1 kubectl=1.37.2-1.1',
    );
    expect(calls).toContain('apt-mark hold kubelet kubeadm kubectl');
    expect(calls).toContain(
      'kubeadm config images pull --kubernetes-version v1.37.2 --cri-socket unix:///run/containerd/containerd.sock',
    );
    expect(calls).toContain(
      'crictl --runtime-endpoint unix:///run/containerd/containerd.sock pull ghcr.io/flannel-io/flannel:v0.28.9',
    );
    expect(calls).toContain(
      'crictl --runtime-endpoint unix:///run/containerd/containerd.sock pull ghcr.io/flannel-io/flannel-cni-plugin:v1.7.1-flannel1',
    );
    expect(calls).toContain(
      'crictl --runtime-endpoint unix:///run/containerd/containerd.sock pull registry.k8s.io/e2e-test-images/agnhost:2.52',
    );
    // Every enabled add-on's images (the catalogue's list), so the add-ons start with no download.
    expect(addonImages(pinned).length).toBeGreaterThan(0);
    for (const image of addonImages(pinned))
      expect(calls).toContain(
        `crictl --runtime-endpoint unix:///run/containerd/containerd.sock pull ${image}`,
      );
    const withoutStorage = { ...pinned, addons: { ...pinned.addons, storage: { enabled: false } } };
    expect(bakeEnv(withoutStorage)).not.toContain('local-path-provisioner');
    expect(calls.at(-1)).toMatch(
      /^systemd-run --no-block --unit=kubestation-seal .*cloud-init clean --logs --machine-id/,
    );
    // The CNI manifest is kept for the nodes, under the name the marker records.
    const kept = path.join(root, 'var', 'lib', 'kubestation', 'golden-cni', '1-kube-flannel.yml');
    expect(await readFile(kept, 'utf8')).toContain('image: ghcr.io/flannel-io/flannel:v0.28.9');
    expect(await readFile(path.join(bin, 'sources-at-update'), 'utf8')).toBe(
      'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.37/deb/ /\n',
    );
    // The repository was used for the install, then removed so a node's own apt source cannot conflict with it.
    expect(existsSync(path.join(root, 'etc', 'apt', 'sources.list.d', 'kubernetes.list'))).toBe(false);
    expect(existsSync(path.join(root, 'etc', 'apt', 'keyrings', 'kubernetes-apt-keyring.gpg'))).toBe(false);
    expect(calls).toContain(
      'curl -fsSL --retry 5 --retry-connrefused https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key',
    );

    // Info lines (what a stage is doing) depend on how long each stage took: not counted here.
    const progress = (await progressLines(root)).map(parseProgressLine).filter((p) => p?.event !== 'info');
    expect(progress.map((p) => `${p?.node} ${p?.stage} ${p?.event}`)).toEqual([
      'template packages start',
      'template packages ok',
      'template images start',
      'template images ok',
      'template golden start',
      'template golden ok',
      'template seal start',
      'template complete done',
    ]);
    // The console (a file here, the serial port in the guest) got the same lines.
    expect((await readFile(path.join(root, 'dev', 'ttyS0'), 'utf8')).trim().split('\n')).toEqual(
      await progressLines(root),
    );
    const marker = decodeGoldenMarker(progress[5]!.message);
    expect(marker).toEqual(
      JSON.parse(await readFile(path.join(root, 'etc', 'kubestation', 'golden.json'), 'utf8')),
    );
    expect(marker).toMatchObject({
      formatVersion: 1,
      kubernetes: {
        minor: '1.37',
        version: '1.37.2',
        packages: { kubelet: '1.37.2-1.1', kubeadm: '1.37.2-1.1', kubectl: '1.37.2-1.1' },
      },
      containerd: { package: 'containerd', version: '2.2.1-0ubuntu1~24.04.3' },
      cni: {
        name: 'flannel',
        version: spec.kubernetes.cni.version,
        manifests: [
          {
            url: spec.kubernetes.cni.manifestUrls[0],
            file: '1-kube-flannel.yml',
            sha256: createHash('sha256')
              .update(await readFile(kept))
              .digest('hex'),
          },
        ],
      },
      images: [
        'ghcr.io/flannel-io/flannel:v0.28.9',
        'registry.k8s.io/kube-apiserver:v1.37.2',
        'registry.k8s.io/pause:3.10.1',
      ],
      // Each image with its digest: the repository digest when crictl lists one, else the image id.
      imageDigests: {
        'ghcr.io/flannel-io/flannel:v0.28.9': 'sha256:f1',
        'registry.k8s.io/kube-apiserver:v1.37.2': 'sha256:d1',
        'registry.k8s.io/pause:3.10.1': 'sha256:d1',
      },
    });
    expect(marker.bakedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('reports a failing stage with the log tail on the console, writes no marker, and still seals and powers off', async () => {
    const root = path.join(dir, 'root');
    const bin = path.join(dir, 'bin');
    await writeGuestCommands(bin, { failApt: true });
    const result = await runBake(root, bin, bakeEnv(spec));
    expect(result.exitCode).toBe(100);
    const fail = (await progressLines(root)).map(parseProgressLine).find((p) => p?.event === 'fail');
    expect(fail).toMatchObject({ node: 'template', stage: 'packages', event: 'fail' });
    expect(fail!.message).toMatch(/^exit status 100 at bake.sh line \d+/);
    expect(fail!.message).toContain('E: Unable to locate package kubeadm');
    expect(existsSync(path.join(root, 'etc', 'kubestation', 'golden.json'))).toBe(false);
    const calls = (await readFile(path.join(bin, 'calls.log'), 'utf8')).trim().split('\n');
    expect(calls.at(-1)).toMatch(/^systemd-run .*systemctl poweroff/);
  });

  it('without a way out, fails packages before any download with the network cause, and still seals', async () => {
    const root = path.join(dir, 'root');
    const bin = path.join(dir, 'bin');
    await writeGuestCommands(bin, { noRoute: true });
    const result = await runBake(root, bin, bakeEnv(spec));
    expect(result.exitCode).not.toBe(0);
    const fail = (await progressLines(root)).map(parseProgressLine).find((p) => p?.event === 'fail');
    expect(fail).toMatchObject({ node: 'template', stage: 'packages', event: 'fail' });
    expect(parseNetworkFailure(fail!.message)).toMatchObject({
      cause: { code: 'no-route' },
      detail: 'no default route (ens33 UP no address)',
    });
    const calls = (await readFile(path.join(bin, 'calls.log'), 'utf8')).trim().split('\n');
    expect(calls.filter((c) => /^(curl|apt-get) /.test(c))).toEqual([]);
    expect(calls.at(-1)).toMatch(/^systemd-run .*systemctl poweroff/);
  });
});
