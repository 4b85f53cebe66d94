import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * The folder holding kubestation's package.json. Code runs both from `src/`
 * (tests) and from `dist/src/` (the built CLI), so walk up instead of
 * assuming a fixed depth.
 */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('kubestation package root not found');
    dir = parent;
  }
  cachedRoot = dir;
  return dir;
}

/** Absolute path of a file shipped with the package, e.g. asset('cloud-init', 'bootstrap.sh'). */
export function asset(...segments: string[]): string {
  return path.join(packageRoot(), ...segments);
}
