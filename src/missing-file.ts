/**
 * Files that may not exist yet (a console before the guest writes it, a
 * known_hosts before the first login): a missing file is an answer, any
 * other failure (no permission, a folder in its place) is thrown.
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The file's stats, or undefined when there is no such file. */
export async function statIfPresent(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** The file's text, or undefined when there is no such file. */
export async function readTextIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}
