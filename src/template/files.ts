import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Temp file + rename: a crash leaves the old file or the new one, never half of one. */
export async function writeFileAtomic(filePath: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(filePath), { recursive: true });
  const temp = `${filePath}.${process.pid}.tmp`;
  await writeFile(temp, data);
  await rename(temp, filePath);
}

export async function fileSize(filePath: string): Promise<number | undefined> {
  try {
    return (await stat(filePath)).size;
  } catch {
    return undefined;
  }
}
