/**
 * The guest's checks before its first download (cloud-init/lib/network.sh, apt.sh,
 * containerd-package.sh) run in bash against stand-ins for ip, getent, ping, curl,
 * apt-get and apt-cache: each cause is named from the evidence that isolates it, and the
 * line parses with the host's parser (src/progress/network-causes.ts).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIRST_MINOR_NEEDING_CONTAINERD2 } from '../../src/config/defaults.js';
import { parseNetworkFailure } from '../../src/progress/network-causes.js';
import { repoRoot, tempDir } from './fixtures.js';

interface World {
  route?: string;
  resolves?: boolean;
  gatewayAnswers?: boolean;
  httpsAnswers?: boolean;
  aptUpdateOutput?: string;
  containerdCandidate?: string;
  containerdIoCandidate?: string;
}

/**
 * Runs `script` with lib/*.sh sourced and stand-in tools that act out `world`, with node.env's
 * CONTAINERD2_FIRST_MINOR as kubestation renders it (or `env`'s); returns stdout, status and the tools called.
 */
function inGuest(script: string, world: World, env: Record<string, string> = {}) {
  const dir = tempDir('netcheck');
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  mkdirSync(path.join(dir, 'apt', 'sources.list.d'), { recursive: true });
  writeFileSync(
    path.join(dir, 'apt', 'sources.list.d', 'ubuntu.sources'),
    'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble noble-updates\n\nTypes: deb\nURIs: http://old.example.invalid/ubuntu/\nEnabled: no\n',
  );
  const calls = path.join(dir, 'calls.log');
  const tools: Record<string, string> = {
    ip: `case "$*" in *route*) ${world.route === undefined ? '' : `echo "${world.route}"`};; *brief*) echo "ens33            UP             ";; esac`,
    getent: world.resolves ? 'echo "203.0.113.7     STREAM $2"' : 'exit 2',
    ping: world.gatewayAnswers ? 'exit 0' : 'exit 1',
    resolvectl: 'echo "Link 2 (ens33): 8.8.8.8 8.8.4.4"',
    curl: world.httpsAnswers
      ? 'case "$*" in *-w*) printf 200;; esac; exit 0'
      : 'echo "curl: (28) Connection timed out after 8001 milliseconds" >&2; exit 28',
    'apt-get': `cat <<'OUT'\n${world.aptUpdateOutput ?? 'Hit:1 http://archive.ubuntu.com/ubuntu noble InRelease'}\nOUT`,
    'apt-cache': `case "$2" in containerd) ${world.containerdCandidate ? `echo "  Candidate: ${world.containerdCandidate}"` : 'echo "  Candidate: (none)"'};; containerd.io) ${world.containerdIoCandidate ? `echo "  Candidate: ${world.containerdIoCandidate}"` : 'echo "  Candidate: (none)"'};; esac`,
    gpg: 'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then cat >"$2"; exit 0; fi; shift; done',
  };
  for (const [name, body] of Object.entries(tools)) {
    writeFileSync(path.join(bin, name), `#!/bin/bash\necho "${name} $*" >>"${calls}"\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  }
  const lib = path.join(repoRoot, 'cloud-init/lib');
  const run = spawnSync(
    'bash',
    [
      '-c',
      `set -euo pipefail; for f in progress network apt containerd-package; do source "${lib}/$f.sh"; done; ${script}`,
    ],
    {
      encoding: 'utf8',
      cwd: dir,
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        NETCHECK_APT_DIR: path.join(dir, 'apt'),
        KUBESTATION_NODE: 'k8s-master',
        KUBESTATION_CONSOLE: path.join(dir, 'console'),
        KUBESTATION_PROGRESS_LOG: path.join(dir, 'progress.log'),
        CONTAINERD2_FIRST_MINOR: FIRST_MINOR_NEEDING_CONTAINERD2,
        ...env,
      },
    },
  );
  const called = (() => {
    try {
      return readFileSync(calls, 'utf8').trim().split('\n');
    } catch {
      return [];
    }
  })();
  return { ...run, called, dir };
}

const urls =
  'http://archive.ubuntu.com/ubuntu/ https://pkgs.k8s.io/core:/stable:/v1.37/deb/ https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key';
const route = 'default via 192.168.5.2 dev ens33 proto static';

describe('network_check (lib/network.sh)', () => {
  it('names each cause from the evidence that isolates it', () => {
    const cases: [World, string, RegExp][] = [
      [{}, 'no-route', /^no default route \(ens33 UP no address\)$/],
      [
        { route },
        'gateway',
        /^the NAT gateway 192\.168\.5\.2 does not answer \(no reply to ping on ens33\) and archive\.ubuntu\.com does not resolve$/,
      ],
      [
        { route, gatewayAnswers: true },
        'dns',
        /^the gateway 192\.168\.5\.2 answers but the DNS servers 8\.8\.4\.4, 8\.8\.8\.8 do not resolve archive\.ubuntu\.com$/,
      ],
      [
        { route, resolves: true },
        'repository',
        /^archive\.ubuntu\.com resolves but http:\/\/archive\.ubuntu\.com\/ubuntu\/ does not answer \(curl: \(28\) Connection timed out after 8001 milliseconds\)$/,
      ],
    ];
    for (const [world, code, detail] of cases) {
      const run = inGuest(`network_check ${urls}`, world);
      expect(run.status, JSON.stringify(world)).toBe(1);
      const parsed = parseNetworkFailure(run.stdout.trim());
      expect(parsed?.cause.code, run.stdout).toBe(code);
      expect(parsed?.detail).toMatch(detail);
    }
  });

  it('passes quietly when every host resolves and answers, testing each host once', () => {
    const run = inGuest(`network_check ${urls}`, { route, resolves: true, httpsAnswers: true });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.called.filter((c) => c.startsWith('getent')).sort()).toEqual([
      'getent ahosts archive.ubuntu.com',
      'getent ahosts pkgs.k8s.io',
    ]);
    expect(run.called.filter((c) => c.startsWith('curl'))).toHaveLength(2);
    expect(run.called.some((c) => c.startsWith('ping'))).toBe(false); // the gateway is only asked when something failed
  });

  it('checks nothing when nothing is downloaded over the network (file:// repositories)', () => {
    const run = inGuest('network_check file:///opt/repo/ file:///opt/repo/Release.key', {});
    expect(run.status).toBe(0);
    expect(run.called).toEqual([]);
  });

  it("reads apt's sources in both formats, skipping disabled stanzas", () => {
    const run = inGuest('network_apt_source_urls', {});
    expect(run.stdout.trim().split('\n')).toEqual(['http://archive.ubuntu.com/ubuntu/']);
  });
});

describe('apt_update (lib/apt.sh)', () => {
  it('fails when a source could not be fetched although apt-get exits 0', () => {
    const output = [
      'Err:1 https://pkgs.k8s.io/core:/stable:/v1.37/deb  InRelease',
      "  Could not resolve 'pkgs.k8s.io'",
      'Reading package lists...',
      "W: Failed to fetch https://pkgs.k8s.io/core:/stable:/v1.37/deb/InRelease  Could not resolve 'pkgs.k8s.io'",
      'W: Some index files failed to download. They have been ignored, or old ones used instead.',
    ].join('\n');
    const run = inGuest('apt_update', { aptUpdateOutput: output });
    expect(run.status).toBe(1);
    expect(run.stdout.trim().split('\n')).toEqual([
      'Err:1 https://pkgs.k8s.io/core:/stable:/v1.37/deb  InRelease',
      "W: Failed to fetch https://pkgs.k8s.io/core:/stable:/v1.37/deb/InRelease  Could not resolve 'pkgs.k8s.io'",
      'W: Some index files failed to download. They have been ignored, or old ones used instead.',
    ]);
    expect(run.stderr).toContain('Reading package lists...'); // apt's own output still goes to the log
  });

  it('passes a clean update, harmless warnings included', () => {
    const run = inGuest('apt_update', {
      aptUpdateOutput:
        'Hit:1 http://archive.ubuntu.com/ubuntu noble InRelease\nW: http://x/ Key is stored in legacy trusted.gpg keyring',
    });
    expect(run.status).toBe(0);
  });
});

describe('containerd_choose_package (lib/containerd-package.sh)', () => {
  const choose = (minor: string) =>
    `containerd_choose_package ${minor} "file:///opt/docker/ /" file:///opt/docker/Release.key "$PWD/keyring.gpg" "$PWD/containerd.list" && s=0 || s=$?; echo "status $s"; cat "$PWD/containerd.list" 2>/dev/null || true`;

  it('needs containerd 2 from FIRST_MINOR_NEEDING_CONTAINERD2 on, as node.env renders it, with no threshold of its own', () => {
    const [major, minor] = FIRST_MINOR_NEEDING_CONTAINERD2.split('.').map(Number) as [number, number];
    const needs = (k8s: string, env: Record<string, string> = {}) =>
      inGuest(`kubernetes_needs_containerd2 ${k8s} && echo yes || echo no`, {}, env).stdout.trim();
    expect(needs(`${major}.${minor - 1}`)).toBe('no');
    expect(needs(FIRST_MINOR_NEEDING_CONTAINERD2)).toBe('yes');
    expect(needs(`${major}.${minor + 1}`)).toBe('yes');
    expect(needs(`${major + 1}.0`)).toBe('yes');
    // Another rendered value moves the answer with it.
    expect(needs(`${major}.${minor + 1}`, { CONTAINERD2_FIRST_MINOR: `${major}.${minor + 4}` })).toBe('no');
    const unset = inGuest('kubernetes_needs_containerd2 1.37', {}, { CONTAINERD2_FIRST_MINOR: '' });
    expect(unset.status).not.toBe(0);
  });

  it("keeps the archive's containerd 2.x, and 1.7 for Kubernetes 1.35", () => {
    expect(inGuest(choose('1.37'), { containerdCandidate: '2.2.1-0ubuntu1~24.04.3' }).stdout).toBe(
      'containerd\nstatus 0\n',
    );
    expect(inGuest(choose('1.35'), { containerdCandidate: '1.7.28-0ubuntu1~24.04.1' }).stdout).toBe(
      'containerd\nstatus 0\n',
    );
  });

  it('adds the second source and installs containerd.io 2.x when the archive offers only 1.7 for Kubernetes 1.36+', () => {
    const run = inGuest(choose('1.36'), {
      containerdCandidate: '1.7.28-0ubuntu1~24.04.1',
      containerdIoCandidate: '2.1.5-1~ubuntu.24.04~noble',
      httpsAnswers: true,
    });
    expect(run.stdout).toMatch(
      /^containerd\.io\nstatus 0\ndeb \[signed-by=.*keyring\.gpg\] file:\/\/\/opt\/docker\/ \/\n$/,
    );
  });

  it('fails naming the versions and the fix when the second source has no 2.x either', () => {
    const run = inGuest(choose('1.37'), {
      containerdCandidate: '1.7.28-0ubuntu1~24.04.1',
      containerdIoCandidate: '1.7.27-1',
      httpsAnswers: true,
    });
    expect(run.stdout).toContain(
      'Kubernetes 1.37 needs containerd 2.0 or newer; containerd 1.7.28 is offered by the archive and file:///opt/docker/ / offers containerd.io 1.7.27',
    );
    expect(run.stdout).toContain(
      'set kubernetes.containerRuntime.packageRepository to a source with containerd 2.x, or kubernetes.version to 1.35 or older',
    );
    expect(run.stdout).toContain('status 1');
  });
});
