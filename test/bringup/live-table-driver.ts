/**
 * Runs the live-table scenario through the real build view on this process's stdout, for
 * live-table.test.ts to start inside a pseudo-terminal (`script`). Arguments: the widths to resize the
 * terminal to along the way; each resize is made with `stty cols` on the pty itself, so the kernel sends
 * SIGWINCH and Node's tty stream reports the new width, as when a user drags the window.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createBuildView } from '../../src/bringup/view.js';
import { seedSpec } from './lab.js';
import { liveTableScenario, RESIZE_MARK } from './live-table-scenario.js';

const resizes = process.argv.slice(2).map(Number);
const spec = await seedSpec();
if (!process.stdout.isTTY) throw new Error('live-table-driver: stdout is not a terminal');
let now = Date.parse('2026-12-07T10:00:00Z');
const view = createBuildView(spec, 'tty', process.stdout, () => now);
for (const step of liveTableScenario(spec, now, resizes)) {
  if ('resize' in step) {
    process.stdout.write(`${RESIZE_MARK}${step.resize}\u0007`);
    const resized = once(process.stdout, 'resize');
    const stty = spawnSync('stty', ['cols', String(step.resize), 'rows', '40'], {
      stdio: ['inherit', 'ignore', 'inherit'],
    });
    if (stty.status !== 0) throw new Error(`stty cols ${step.resize} failed`);
    // Kept referenced: the SIGWINCH watcher alone does not keep Node running until the signal arrives.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      resized,
      new Promise(
        (_, reject) => (timer = setTimeout(() => reject(new Error('no SIGWINCH after stty cols')), 5000)),
      ),
    ]);
    clearTimeout(timer);
    continue;
  }
  now += step.advanceMs;
  view.emit(step.event);
}
view.close();
