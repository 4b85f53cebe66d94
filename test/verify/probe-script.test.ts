import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tempDir } from '../support/temp-dir.js';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  clockOffsetSeconds,
  describeCurlFailure,
  parseProbeOutput,
  renderProbeScript,
  type ProbePlan,
} from '../../src/verify/probe-script.js';

const targets: ProbePlan = {
  node: 'k8s-worker1',
  checks: [
    { check: 'dns', target: 'kubernetes.default' },
    { check: 'dns', target: 'verify-k8s-master.kubestation-verify' },
    { check: 'pod', target: 'k8s-master', url: 'http://10.244.0.5:8080/hostname' },
    { check: 'pod', target: 'k8s-worker1', url: 'http://10.244.1.3:8080/hostname' },
    { check: 'service', target: 'k8s-master', url: 'http://10.96.100.2:80/hostname' },
    { check: 'nodeport', target: 'k8s-master', url: 'http://172.100.100.2:30080/hostname' },
    { check: 'clock', target: 'k8s-master', url: 'http://10.244.0.5:8080/' },
  ],
};

describe('probe script', () => {
  it('passes shellcheck as POSIX sh', () => {
    const file = path.join(tempDir('kubestation-probe-'), 'probe.sh');
    writeFileSync(file, renderProbeScript(targets));
    expect(() => execFileSync('shellcheck', ['-s', 'sh', file], { encoding: 'utf8' })).not.toThrow();
  });

  it('runs every check once: DNS lookups beside one curl for every TCP check, then the clock, then the end marker', () => {
    const script = renderProbeScript(targets);
    const calls = script.split('\n').filter((l) => /^(\{ dns |tcp |clock |wait$|report end )/.test(l));
    expect(calls).toEqual([
      '{ dns kubernetes.default; dns verify-k8s-master.kubestation-verify; } &',
      'tcp -o /dev/null http://10.244.0.5:8080/hostname -o /dev/null http://10.244.1.3:8080/hostname -o /dev/null http://10.96.100.2:80/hostname -o /dev/null http://172.100.100.2:30080/hostname',
      'wait',
      'clock k8s-master http://10.244.0.5:8080/',
      'report end - ok',
    ]);
    // curl's -w %{urlnum} indexes the URLs in order: each index names its check.
    expect(script.split('\n').filter((l) => l.startsWith('tcp_label_'))).toEqual([
      "tcp_label_0='pod k8s-master'",
      "tcp_label_1='pod k8s-worker1'",
      "tcp_label_2='service k8s-master'",
      "tcp_label_3='nodeport k8s-master'",
    ]);
    expect(script).toContain(
      'curl -s -m 4 --parallel --parallel-max 16 -w \'%{urlnum} %{exitcode} %{http_code}\\n\' "$@"',
    );
  });

  it('refuses values that could break out of the script', () => {
    expect(() =>
      renderProbeScript({ ...targets, checks: [{ check: 'dns', target: 'x; rm -rf /' }] }),
    ).toThrow('unsafe value for the probe script');
    expect(() =>
      renderProbeScript({ ...targets, checks: [{ check: 'pod', target: 'n', url: "http://x/'$(id)'" }] }),
    ).toThrow('unsafe value');
    expect(() => renderProbeScript({ ...targets, node: '$(id)' })).toThrow('unsafe value');
  });

  it('parses result lines and ignores noise', () => {
    const text = [
      'some noise from the image',
      'KSV1 dns kubernetes.default ok 10.96.0.1',
      'KSV1 pod k8s-master fail curl-exit-28',
      'KSV1 clock k8s-master ok 1700000000 1700000001 Tue,_14_Nov_2023_22:13:20_GMT',
      'KSV1 bogus x maybe',
      'KSV1 error curl fail exit-2',
      'KSV1 end - ok',
      '',
    ].join('\r\n');
    const parsed = parseProbeOutput(text);
    expect(parsed.complete).toBe(true);
    expect(parsed.errors).toEqual(['curl exit-2']);
    expect(parsed.lines.map((l) => [l.check, l.target, l.ok])).toEqual([
      ['dns', 'kubernetes.default', true],
      ['pod', 'k8s-master', false],
      ['clock', 'k8s-master', true],
    ]);
    expect(describeCurlFailure(parsed.lines[1]!.detail[0])).toBe('no answer within 4 s (packets dropped)');
    expect(describeCurlFailure('curl-exit-7')).toBe('connection refused');
    // 22:13:20 is 1700000000; the node read 1700000000..1700000001, so it is half a second ahead.
    expect(clockOffsetSeconds(parsed.lines[2]!)).toBe(-0.5);
    expect(parseProbeOutput('KSV1 dns x ok 1.2.3.4\n').complete).toBe(false);
    // A last line without its newline was cut off (the probe was killed while writing): not a result.
    expect(
      parseProbeOutput('KSV1 dns x ok 1.2.3.4\nKSV1 pod k8s-worker1 fail curl-exit-2').lines.map(
        (l) => l.target,
      ),
    ).toEqual(['x']);
  });
});
