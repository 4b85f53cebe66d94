import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tempDir } from '../support/temp-dir.js';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clockOffsetSeconds, describeCurlFailure, parseProbeOutput, renderProbeScript, type ProbeTargets } from '../../src/verify/probe-script.js';

const targets: ProbeTargets = {
  node: 'k8s-worker1',
  dnsNames: ['kubernetes.default', 'verify-web.kubestation-verify'],
  pods: [
    { node: 'k8s-master', url: 'http://10.244.0.5:8080/hostname' },
    { node: 'k8s-worker1', url: 'http://10.244.1.3:8080/hostname' },
  ],
  service: { name: 'verify-web', url: 'http://10.96.100.2:80/hostname' },
  nodePorts: [{ node: 'k8s-master', url: 'http://172.100.100.2:30080/hostname' }],
  clockReference: { node: 'k8s-master', url: 'http://10.244.0.5:8080/' },
};

describe('probe script', () => {
  it('passes shellcheck as POSIX sh', () => {
    const file = path.join(tempDir('kubestation-probe-'), 'probe.sh');
    writeFileSync(file, renderProbeScript(targets));
    expect(() => execFileSync('shellcheck', ['-s', 'sh', file], { encoding: 'utf8' })).not.toThrow();
  });

  it('runs every check once, in order, and ends with the end marker', () => {
    const calls = renderProbeScript(targets).split('\n').filter((l) => /^(dns|tcp|clock|report end) /.test(l));
    expect(calls).toEqual([
      'dns kubernetes.default',
      'dns verify-web.kubestation-verify',
      'tcp pod k8s-master http://10.244.0.5:8080/hostname',
      'tcp pod k8s-worker1 http://10.244.1.3:8080/hostname',
      'tcp service verify-web http://10.96.100.2:80/hostname',
      'tcp nodeport k8s-master http://172.100.100.2:30080/hostname',
      'clock k8s-master http://10.244.0.5:8080/',
      'report end - ok',
    ]);
  });

  it('refuses values that could break out of the script', () => {
    expect(() => renderProbeScript({ ...targets, dnsNames: ['x; rm -rf /'] })).toThrow('unsafe value for the probe script');
    expect(() => renderProbeScript({ ...targets, node: '$(id)' })).toThrow('unsafe value');
  });

  it('parses result lines and ignores noise', () => {
    const text = [
      'some noise from the image',
      'KSV1 dns kubernetes.default ok 10.96.0.1',
      'KSV1 pod k8s-master fail curl-exit-28',
      'KSV1 clock k8s-master ok 1700000000 1700000001 Tue,_14_Nov_2023_22:13:20_GMT',
      'KSV1 bogus x maybe',
      'KSV1 end - ok',
    ].join('\r\n');
    const parsed = parseProbeOutput(text);
    expect(parsed.complete).toBe(true);
    expect(parsed.lines.map((l) => [l.check, l.target, l.ok])).toEqual([
      ['dns', 'kubernetes.default', true],
      ['pod', 'k8s-master', false],
      ['clock', 'k8s-master', true],
    ]);
    expect(describeCurlFailure(parsed.lines[1]!.detail[0])).toBe('no answer within 4 s (packets dropped)');
    expect(describeCurlFailure('curl-exit-7')).toBe('connection refused');
    // 22:13:20 is 1700000000; the node read 1700000000..1700000001, so it is half a second ahead.
    expect(clockOffsetSeconds(parsed.lines[2]!)).toBe(-0.5);
    expect(parseProbeOutput('KSV1 dns x ok 1.2.3.4').complete).toBe(false);
  });
});
