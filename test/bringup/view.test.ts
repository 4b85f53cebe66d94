/**
 * The plain-text build view: stage lines timed by the line's own time (a
 * re-run shows real durations) and the "no news" note for a quiet node.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createBuildView } from '../../src/bringup/view.js';
import { seedSpec } from './lab.js';

describe('build view (plain)', () => {
  it('prints stage durations from the event and says when a running node has been quiet', async () => {
    const spec = await seedSpec();
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const now = Date.parse('2026-12-02T10:00:00Z');
    const view = createBuildView(spec, 'plain', out, () => now);
    view.emit({
      type: 'stage',
      node: 'k8s-master',
      stage: 'os',
      event: 'start',
      message: '',
      atMs: now - 600_000,
      elapsedMs: 0,
      totalMs: 30_000,
    });
    view.emit({
      type: 'stage',
      node: 'k8s-master',
      stage: 'os',
      event: 'ok',
      message: '',
      atMs: now - 558_000,
      elapsedMs: 42_000,
      totalMs: 72_000,
    });
    view.emit({
      type: 'quiet',
      node: 'k8s-master',
      stage: 'packages',
      sinceMs: now - 120_000,
      serialLog: 'C:\\lab\\.kubestation\\k8s-master\\serial.log',
    });
    view.close();
    expect(text).toContain('k8s-master: os start — swap off, kernel modules, sysctl, hosts\n');
    expect(text).toContain('k8s-master: os ok after 42s\n');
    expect(text).toContain(
      'no news from k8s-master for 2 min (stage packages); its console log is C:\\lab\\.kubestation\\k8s-master\\serial.log\n',
    );
  });
});
