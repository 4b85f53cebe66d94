/**
 * Writing secrets: owner-only permissions and atomic replacement (temp file in
 * the same folder, then rename), so an interrupted run never leaves a
 * half-written key. On Windows, Node ignores POSIX mode bits; the files
 * inherit the ACL of the state folder (normally the user's profile, which
 * only that user and administrators can read).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export const secretDirMode = 0o700;
export const secretFileMode = 0o600;

export async function ensureSecretDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: secretDirMode });
  if (process.platform !== 'win32') await chmod(dir, secretDirMode);
}

export async function writeSecretFileAtomic(file: string, content: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', secretFileMode);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
