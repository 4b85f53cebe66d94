import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OwnerOnlyAccess } from './owner-only.js';

/**
 * Temp file + rename: a crash leaves the old file or the new one, never half
 * of one. The temp file is created exclusively and flushed before the rename.
 * With `ownerOnly` it is created empty, restricted to the current user (mode
 * 0600, or its Windows ACL replaced) and only then filled, so a secret is
 * never readable by others, even briefly; the rename keeps that protection.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { ownerOnly?: OwnerOnlyAccess } = {},
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const access = options.ownerOnly;
    if (access) {
      await (await open(temp, 'wx', access.createMode)).close();
      await access.restrictFile(temp);
      await writeFile(temp, data, { flag: 'r+', flush: true });
    } else {
      await writeFile(temp, data, { flag: 'wx', flush: true });
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
