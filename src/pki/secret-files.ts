/**
 * Writing secrets: owner-only permissions and atomic replacement (temp file in
 * the same folder, then rename), so an interrupted run never leaves a
 * half-written key. On Windows, Node ignores POSIX mode bits; the files
 * inherit the ACL of the state folder (normally the user's profile, which
 * only that user and administrators can read).
 */
import { chmod, mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';

export const secretDirMode = 0o700;
export const secretFileMode = 0o600;

export async function ensureSecretDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: secretDirMode });
  if (process.platform !== 'win32') await chmod(dir, secretDirMode);
}

export async function writeSecretFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  await writeFileAtomic(file, content, { mode: secretFileMode });
}
