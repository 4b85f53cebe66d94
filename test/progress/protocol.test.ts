import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tempDir } from '../support/temp-dir.js';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ProgressLineAccumulator,
  classifyConsoleLine,
  decodeMessage,
  encodeMessage,
  formatProgressLine,
  parseProgressLine,
  posixCksum,
  type ProgressLine,
} from '../../src/progress/protocol.js';
import { redactSecrets } from '../../src/progress/redact.js';
import {
  NETWORK_CAUSES,
  formatNetworkFailure,
  parseNetworkFailure,
} from '../../src/progress/network-causes.js';
import { NodeProgress } from '../../src/progress/tracker.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const progressLib = path.join(repoRoot, 'cloud-init/lib/progress.sh');
const progressDir = () => tempDir('kubestation-progress-');

const sample: ProgressLine = {
  node: 'k8s-worker1',
  stage: 'kubeadm-join',
  event: 'fail',
  timeMs: 1_790_000_000_123,
  message: 'exit code 1 | last log lines:\nerror: 100% wrong\ttab\r\n한국어 ok',
};

/** Runs progress.sh's functions in bash, console redirected to a file; returns what the console got. */
function shellConsole(script: string, env: Record<string, string> = {}): string {
  const dir = progressDir();
  const consoleFile = path.join(dir, 'console');
  execFileSync('bash', ['-c', `set -euo pipefail; source "${progressLib}"; ${script}`], {
    env: {
      ...process.env,
      KUBESTATION_NODE: 'k8s-worker1',
      KUBESTATION_CONSOLE: consoleFile,
      KUBESTATION_PROGRESS_LOG: path.join(dir, 'progress.log'),
      ...env,
    },
    cwd: dir,
  });
  return readFileSync(consoleFile, 'utf8');
}

describe('progress line format', () => {
  it('round-trips through format and parse, including %, tabs, CR/LF and UTF-8', () => {
    const line = formatProgressLine(sample);
    expect(line).not.toMatch(/[\r\n\t]/);
    expect(line).toMatch(/^KUBESTATION 1 \d+ k8s-worker1 kubeadm-join fail 1790000000123 /);
    expect(parseProgressLine(line)).toEqual(sample);
    expect(decodeMessage(encodeMessage('%0A literal and\nnewline'))).toBe('%0A literal and\nnewline');
  });

  it('computes the same checksum as coreutils cksum', () => {
    for (const text of ['', 'a', 'k8s-master os start 1 ', 'x'.repeat(300), '한국어 %25']) {
      const expected = execFileSync('cksum', { input: text, encoding: 'utf8' }).split(' ')[0];
      expect(posixCksum(Buffer.from(text, 'utf8'))).toBe(Number(expected));
    }
  });

  it('ignores console noise before the marker and a trailing CR, and rejects damaged lines', () => {
    const line = formatProgressLine(sample);
    expect(parseProgressLine(`[   12.345] systemd[1]: Started foo.${line}\r`)).toEqual(sample);
    expect(classifyConsoleLine('Ubuntu 24.04 LTS k8s-master ttyS0')).toEqual({ kind: 'other' });
    expect(classifyConsoleLine(line.replace('kubeadm-join', 'kubeadm-jo1n')).kind).toBe('corrupt');
    expect(classifyConsoleLine(line.slice(0, 40)).kind).toBe('corrupt');
    // A kernel message cut into the middle of the line.
    expect(classifyConsoleLine(`${line.slice(0, 30)}[  99.1] eth0: link up${line.slice(30)}`).kind).toBe(
      'corrupt',
    );
    expect(() => formatProgressLine({ ...sample, node: 'two words' })).toThrow(/single token/);
  });
});

describe('info lines and unknown events', () => {
  const info: ProgressLine = {
    node: 'k8s-master',
    stage: 'packages',
    event: 'info',
    timeMs: 1_790_000_000_000,
    message: 'apt: download 12 of 57',
  };

  it('an info line round-trips and says what the running stage is doing', () => {
    const line = formatProgressLine(info);
    expect(line).toMatch(/^KUBESTATION 1 \d+ k8s-master packages info 1790000000000 apt: download 12 of 57$/);
    expect(parseProgressLine(line)).toEqual(info);
  });

  it('a line with an event this parser does not know is skipped, not counted as damaged', () => {
    const payload = 'k8s-master packages progress-v2 1790000000000 42%';
    const future = `KUBESTATION 1 ${posixCksum(Buffer.from(payload))} ${payload}`;
    expect(classifyConsoleLine(future)).toEqual({ kind: 'unknown-event', event: 'progress-v2' });
    expect(parseProgressLine(future)).toBeUndefined();
    const acc = new ProgressLineAccumulator();
    const got = acc.push(
      `${formatProgressLine({ ...info, event: 'start', message: '' })}\n${future}\n${formatProgressLine(info)}\n`,
    );
    expect(got.map((l) => l.event)).toEqual(['start', 'info']);
    expect(acc.corruptLines).toBe(0);
    // The same line with its checksum broken is still damaged.
    expect(classifyConsoleLine(future.replace('42%', '43%')).kind).toBe('corrupt');
  });

  it('the host tracker keeps the stage running on info lines and remembers the latest', () => {
    const progress = new NodeProgress('k8s-master', 'control-plane', 0);
    progress.apply({ ...info, event: 'start', message: '' }, 1000);
    expect(progress.apply(info, 31_000)).toBe(true);
    expect(progress.status).toBe('running');
    expect(progress.failure).toBeUndefined();
    expect(progress.current).toMatchObject({ stage: 'packages', sinceMs: 1000, started: true });
    expect(progress.activity).toMatchObject({ stage: 'packages', message: 'apt: download 12 of 57' });
  });
});

describe('network causes in fail lines', () => {
  it('the cause and what the guest saw come back out of a runner fail message', () => {
    const message = `${formatNetworkFailure('dns', 'the gateway 192.168.5.2 answers but 8.8.8.8, 8.8.4.4 do not resolve pkgs.k8s.io')} (exit code 20, log /var/log/kubestation/packages.log) | last log lines:\nnetwork check: ...`;
    const parsed = parseNetworkFailure(message);
    expect(parsed?.cause.code).toBe('dns');
    expect(parsed?.detail).toBe(
      'the gateway 192.168.5.2 answers but 8.8.8.8, 8.8.4.4 do not resolve pkgs.k8s.io',
    );
    expect(parseNetworkFailure('exit code 1 (log x)')).toBeUndefined();
    expect(parseNetworkFailure('network weather: cloudy')).toBeUndefined();
  });

  it('each cause names its fix on the Windows side', () => {
    const context = {
      gateway: '192.168.5.2',
      vmnet: 'vmnet8',
      dnsServers: ['8.8.8.8', '8.8.4.4'],
      packageRepository: 'https://pkgs.k8s.io/core:/stable:/v1.37/deb/',
    };
    expect(NETWORK_CAUSES['no-route'].fix(context)).toMatch(/Connected.*vmnet8/);
    expect(NETWORK_CAUSES.gateway.fix(context)).toMatch(
      /services\.msc.*VMware NAT Service.*Virtual Network Editor.*192\.168\.5\.2/,
    );
    expect(NETWORK_CAUSES.dns.fix(context)).toMatch(/os\.dnsServers \(8\.8\.8\.8, 8\.8\.4\.4\)/);
    expect(NETWORK_CAUSES.repository.fix(context)).toMatch(
      /proxy or firewall.*kubernetes\.packageRepository \(now https:\/\/pkgs\.k8s\.io/,
    );
  });
});

describe('ProgressLineAccumulator', () => {
  it('yields lines across arbitrary chunk boundaries with CRLF and noise, counting damaged ones', () => {
    const lines = [
      sample,
      { ...sample, stage: 'os', event: 'start' as const, message: '' },
      { ...sample, stage: 'complete', event: 'done' as const, message: 'joined' },
    ];
    const stream = `boot noise\r\n${formatProgressLine(lines[0]!)}\r\nKUBESTATION 1 123 broken\r\n${formatProgressLine(lines[1]!)}\n[  3.0] kernel\n${formatProgressLine(lines[2]!)}`;
    for (const size of [1, 3, 7, 64, stream.length]) {
      const acc = new ProgressLineAccumulator();
      const got: ProgressLine[] = [];
      for (let i = 0; i < stream.length; i += size) got.push(...acc.push(stream.slice(i, i + size)));
      got.push(...acc.end());
      expect(got, `chunk size ${size}`).toEqual(lines);
      expect(acc.corruptLines).toBe(1);
    }
  });
});

describe('cloud-init/lib/progress.sh speaks the same protocol', () => {
  it('writes lines the parser reads back field for field', () => {
    const before = Date.now();
    const out = shellConsole(
      `progress_emit os start 'deadline 300s'; progress_emit os ok $'swap off; 100% done\\ttab\\nnext line'; progress_emit complete 'done' ''; progress_emit os ok 'trailing space '`,
    );
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.every((l) => !l.endsWith(' '))).toBe(true);
    expect(parseProgressLine(lines.pop()!)!.message).toBe('trailing space ');
    const parsed = lines.map((l) => parseProgressLine(l));
    expect(parsed.map((p) => [p?.node, p?.stage, p?.event, p?.message])).toEqual([
      ['k8s-worker1', 'os', 'start', 'deadline 300s'],
      ['k8s-worker1', 'os', 'ok', 'swap off; 100% done\ttab\nnext line'],
      ['k8s-worker1', 'complete', 'done', ''],
    ]);
    expect(parsed[0]!.timeMs).toBeGreaterThanOrEqual(before - 1000);
    // Byte-identical to the TypeScript formatter for the same fields.
    expect(lines[1]).toBe(formatProgressLine(parsed[1]!));
  });

  it('writes info lines the parser reads back', () => {
    const out = shellConsole(
      `progress_info images 'images: pulling 2 of 7 registry.k8s.io/kube-apiserver:v1.37.0'`,
    );
    expect(parseProgressLine(out.trimEnd())).toMatchObject({
      node: 'k8s-worker1',
      stage: 'images',
      event: 'info',
      message: 'images: pulling 2 of 7 registry.k8s.io/kube-apiserver:v1.37.0',
    });
  });

  it('a fail line carries the bounded, single-line tail of the log with secrets redacted', () => {
    const dir = progressDir();
    const token = 'abcdef.0123456789abcdef';
    const keyBody = 'MC4CAQAwBQYDK2VwBCIEIJ+secretsecretsecretsecretsecretsecretAB';
    const log = path.join(dir, 'stage.log');
    writeFileSync(
      log,
      [
        ...Array.from({ length: 40 }, (_, i) => `line ${i}`),
        `kubeadm join --token ${token} --discovery-token-ca-cert-hash sha256:1234`,
        '-----BEGIN PRIVATE KEY-----',
        keyBody,
        '-----END PRIVATE KEY-----',
        'Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFy',
        'error execution phase preflight: connection refused',
      ].join('\n'),
    );
    const out = shellConsole(`progress_fail kubeadm-join 'exit code 1' "${log}"`);
    expect(out.trimEnd().split('\n')).toHaveLength(1);
    expect(out).not.toContain(token);
    expect(out).not.toContain('0123456789abcdef');
    expect(out).not.toContain(keyBody);
    expect(out).not.toContain('Zm9vYmFy');
    const line = parseProgressLine(out.trimEnd())!;
    expect(line.event).toBe('fail');
    expect(line.message).toMatch(/^exit code 1 \| last log lines:\n/);
    expect(line.message).toContain('<redacted token>');
    expect(line.message).toContain('<redacted private key>');
    expect(line.message).toContain('error execution phase preflight: connection refused');
    expect(line.message).not.toContain('line 19\n'); // only the last 20 lines
    expect(Buffer.byteLength(line.message)).toBeLessThan(1700);
  });

  it("a fail line's log tail starts at a line start when the last 20 lines exceed its bound", () => {
    const dir = progressDir();
    const log = path.join(dir, 'stage.log');
    // 20 lines of 101 bytes: 2020 bytes, over the 1500-byte bound; one long last line alone.
    const lines = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')} ${'가'.repeat(32)}`);
    writeFileSync(log, `${lines.join('\n')}\n`);
    const tail = parseProgressLine(shellConsole(`progress_fail packages 'exit code 100' "${log}"`).trimEnd())!
      .message.split('\n')
      .slice(1);
    expect(tail.length).toBeGreaterThan(10);
    expect(tail).toEqual(lines.slice(-tail.length));
    writeFileSync(log, `short\n${'x '.repeat(1500)}END\n`);
    const long = parseProgressLine(
      shellConsole(`progress_fail packages 'exit code 100' "${log}"`).trimEnd(),
    )!.message;
    expect(long).toMatch(/\| last log lines:\n\.\.\.[x ]+END$/);
    expect(Buffer.byteLength(long)).toBeLessThan(1600);
  });

  it('the parser redacts again (defence in depth)', () => {
    const line = formatProgressLine({
      ...sample,
      message:
        'token abcdef.0123456789abcdef\n-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----',
    });
    expect(parseProgressLine(line)!.message).toBe('token <redacted token>\n<redacted private key>');
    expect(redactSecrets('sha256:abc and 172.100.100.2:6443 stay')).toBe(
      'sha256:abc and 172.100.100.2:6443 stay',
    );
  });
});

describe('cloud-init/bootstrap.sh runner', () => {
  /** A copy of the runner with stand-in stages, a node.env and a stages file. */
  function rig(stages: Record<string, string>, schedule: string, env: Record<string, string> = {}) {
    const dir = progressDir();
    const lib = path.join(dir, 'lib-root');
    mkdirSync(path.join(lib, 'stages'), { recursive: true });
    cpSync(path.join(repoRoot, 'cloud-init/bootstrap.sh'), path.join(lib, 'bootstrap.sh'));
    cpSync(path.join(repoRoot, 'cloud-init/lib'), path.join(lib, 'lib'), { recursive: true });
    for (const [name, body] of Object.entries(stages)) {
      writeFileSync(path.join(lib, 'stages', `${name}.sh`), `#!/bin/bash\nset -euo pipefail\n${body}\n`);
      chmodSync(path.join(lib, 'stages', `${name}.sh`), 0o755);
    }
    writeFileSync(path.join(dir, 'node.env'), `KUBESTATION_NODE='k8s-master'\n`);
    writeFileSync(path.join(dir, 'stages'), schedule);
    const consoleFile = path.join(dir, 'console');
    const run = spawnSync('bash', [path.join(lib, 'bootstrap.sh')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        KUBESTATION_ENV: path.join(dir, 'node.env'),
        KUBESTATION_STAGES_FILE: path.join(dir, 'stages'),
        KUBESTATION_LOG_DIR: path.join(dir, 'log'),
        KUBESTATION_RUN_DIR: path.join(dir, 'run'),
        KUBESTATION_CONSOLE: consoleFile,
        KUBESTATION_CLOUD_INIT_DISABLED_FILE: path.join(dir, 'cloud-init.disabled'),
        ...env,
      },
    });
    const acc = new ProgressLineAccumulator();
    const lines = [...acc.push(readFileSync(consoleFile, 'utf8')), ...acc.end()];
    return { run, lines, dir };
  }

  it('runs the stages in order, reports each summary, ends with complete done and disables cloud-init for later boots', () => {
    const { run, lines, dir } = rig(
      {
        one: 'echo "summary line" >>"$KUBESTATION_SUMMARY_FILE"',
        two: 'echo "all nodes Ready" >>"$KUBESTATION_SUMMARY_FILE"',
      },
      '# comment\none 30\ntwo 30\n',
    );
    expect(run.status, run.stderr).toBe(0);
    expect(lines.map((l) => `${l.stage} ${l.event} ${l.message}`)).toEqual([
      'one start deadline 30s',
      'one ok summary line',
      'two start deadline 30s',
      'two ok all nodes Ready',
      'complete done all nodes Ready',
    ]);
    // Later boots do not run cloud-init again (the e2e reboot test boots such a disk).
    expect(existsSync(path.join(dir, 'cloud-init.disabled'))).toBe(true);
  });

  it('stops at a failing stage and names it with its log tail', () => {
    const { run, lines, dir } = rig(
      { one: 'echo "apt says no" >&2; exit 3', two: 'echo never' },
      'one 30\ntwo 30\n',
    );
    expect(run.status).toBe(1);
    expect(existsSync(path.join(dir, 'cloud-init.disabled'))).toBe(false);
    expect(lines.map((l) => `${l.stage} ${l.event}`)).toEqual(['one start', 'one fail']);
    expect(lines[1]!.message).toMatch(/^exit code 3 \(log .*one\.log\) \| last log lines:\napt says no$/);
  });

  it('fails a stage that outlives its deadline as timed out', () => {
    const { run, lines } = rig({ slow: 'echo "waiting for the API server"; sleep 30' }, 'slow 1\n');
    expect(run.status).toBe(1);
    expect(lines.at(-1)).toMatchObject({ stage: 'slow', event: 'fail' });
    expect(lines.at(-1)!.message).toMatch(/^timed out after 1s .*\nwaiting for the API server$/);
  });

  it('a stage that runs long reports what it is doing as info lines, and none after it ends', () => {
    const common = 'source "$(dirname "$0")/../lib/common.sh"';
    const { run, lines } = rig(
      {
        slow: `${common}; doing "apt: update"; sleep 3; doing "apt: download 3 of 57"; sleep 3; echo done >>"$KUBESTATION_SUMMARY_FILE"`,
        quiet: 'sleep 4',
      },
      'slow 60\nquiet 60\n',
      { PROGRESS_INFO_EVERY: '2', PROGRESS_INFO_MIN: '1' },
    );
    expect(run.status, run.stderr).toBe(0);
    const slow = lines.filter((l) => l.stage === 'slow').map((l) => `${l.event} ${l.message}`);
    expect(slow[0]).toBe('start deadline 60s');
    expect(slow.at(-1)).toBe('ok done');
    const infos = slow.slice(1, -1);
    expect(infos.every((l) => l.startsWith('info '))).toBe(true);
    expect(infos).toContain('info apt: update');
    expect(infos).toContain('info apt: download 3 of 57');
    expect(infos.indexOf('info apt: update')).toBeLessThan(infos.indexOf('info apt: download 3 of 57'));
    // A stage that says nothing still shows it is alive.
    const quiet = lines.filter((l) => l.stage === 'quiet').map((l) => `${l.event} ${l.message}`);
    expect(quiet.slice(1, -1).some((l) => /^info running for \d+ s$/.test(l))).toBe(true);
    expect(quiet.at(-1)).toBe('ok ');
    expect(lines.at(-1)).toMatchObject({ stage: 'complete', event: 'done' });
  });

  it('a stage that knows why it failed leads its fail line with the reason', () => {
    const { run, lines } = rig(
      {
        net: 'source "$(dirname "$0")/../lib/common.sh"; fail_because "network gateway: the NAT gateway 192.168.5.2 does not answer"; exit 20',
      },
      'net 30\n',
    );
    expect(run.status).toBe(1);
    const fail = lines.at(-1)!;
    expect(fail).toMatchObject({ stage: 'net', event: 'fail' });
    expect(fail.message).toMatch(
      /^network gateway: the NAT gateway 192\.168\.5\.2 does not answer \(exit code 20, log .*net\.log\) \| last log lines:\n/,
    );
    expect(parseNetworkFailure(fail.message)).toMatchObject({
      cause: { code: 'gateway' },
      detail: 'the NAT gateway 192.168.5.2 does not answer',
    });
  });

  it('refuses a schedule naming a stage that is not installed', () => {
    const { run, lines } = rig({}, 'ghost 30\n');
    expect(run.status).toBe(1);
    expect(lines).toEqual([expect.objectContaining({ stage: 'ghost', event: 'fail' })]);
  });
});
