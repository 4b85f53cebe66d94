/** `kubestation --version`: the version in kubestation's own package.json. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../assets.js';

export function kubestationVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string')
    throw new Error(`${path.join(packageRoot(), 'package.json')} has no version`);
  return manifest.version;
}
