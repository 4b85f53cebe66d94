/**
 * Temporary folders for tests: `tempDir(prefix)` makes one under the run's
 * temporary root and test/setup/remove-temp-dirs.ts removes every one of them
 * after the test file. (test/setup/temp-root.ts fails the run when key
 * material is left behind.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const created = new Set<string>();

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  created.add(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
  created.clear();
}
