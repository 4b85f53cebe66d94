/**
 * Writing secrets: readable by the current user only (POSIX 0600 / 0700, or
 * on Windows an ACL granting only that user, set by src/owner-only.ts
 * before anything is written) and atomic replacement (temp file in the same
 * folder, then rename), so an interrupted run never leaves a half-written key.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { hostOwnerOnlyAccess, type OwnerOnlyAccess } from '../owner-only.js';

export const secretDirMode = 0o700;

/** Creates the folder owner-only; on Windows a newly created one gets an ACL its new files inherit. */
export async function ensureSecretDir(
  dir: string,
  access: OwnerOnlyAccess = hostOwnerOnlyAccess(),
): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: secretDirMode });
  if (process.platform !== 'win32') await chmod(dir, secretDirMode);
  else if (created !== undefined) await access.restrictFolder(dir);
}

export async function writeSecretFileAtomic(
  file: string,
  content: string | Uint8Array,
  access: OwnerOnlyAccess = hostOwnerOnlyAccess(),
): Promise<void> {
  await writeFileAtomic(file, content, { ownerOnly: access });
}
