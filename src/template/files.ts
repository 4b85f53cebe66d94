import { stat } from 'node:fs/promises';

export { writeFileAtomic } from '../atomic-file.js';

export async function fileSize(filePath: string): Promise<number | undefined> {
  try {
    return (await stat(filePath)).size;
  } catch {
    return undefined;
  }
}
