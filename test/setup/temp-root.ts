/**
 * vitest global setup: every run gets its own temporary root (TMPDIR, which
 * os.tmpdir() and the tools the tests run honour), and the run fails when a
 * test left behind a folder holding key material (a CA or admin key, an SSH
 * private key). Other leftovers are listed; the whole root is removed after.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const KEY_FILE = /(^|\.)key$|^id_(rsa|ecdsa|ed25519)$/;
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
/**
 * tsx's compile cache (`tsx-<uid>`, made by the `node --import tsx` processes tests start): compiled
 * copies of the project's own source, whose key-shaped fixtures and redaction patterns are not secrets.
 */
const TOOL_CACHE = /^tsx-\d+$/;

/** Files under `dir` that hold a private key, by name or content (small files only). */
export function keyMaterialIn(dir: string): string[] {
  const found: string[] = [];
  const walk = (current: string, depth: number): void => {
    if (depth > 8) return;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const file = path.join(current, entry.name);
      if (entry.isDirectory()) walk(file, depth + 1);
      else if (entry.isFile()) {
        if (KEY_FILE.test(entry.name)) found.push(file);
        else if (statSync(file).size < 256 * 1024 && PRIVATE_KEY_PEM.test(readFileSync(file, 'latin1')))
          found.push(file);
      }
    }
  };
  walk(dir, 0);
  return found;
}

export default function setup(): () => void {
  const root = mkdtempSync(path.join(tmpdir(), 'kubestation-test-run-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root; // inherited by the test workers and every process they start
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    const leftovers = readdirSync(root).filter((name) => !TOOL_CACHE.test(name));
    const withKeys = leftovers.filter((name) => keyMaterialIn(path.join(root, name)).length > 0);
    rmSync(root, { recursive: true, force: true });
    if (leftovers.length > 0)
      process.stderr.write(
        `\ntests left ${leftovers.length} temporary entries behind (removed now): ${leftovers.join(', ')}\n`,
      );
    if (withKeys.length > 0) {
      process.exitCode = 1; // vitest only logs an error thrown here; the run must fail
      throw new Error(
        `tests left key material in temporary folders: ${withKeys.join(', ')}. A test must remove the folders it creates (onTestFinished / afterAll).`,
      );
    }
  };
}
