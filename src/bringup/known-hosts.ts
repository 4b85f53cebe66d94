/**
 * The cluster's own SSH known_hosts (`<stateDir>/known_hosts`, named by ssh_config).
 * ssh_config files each node's key under the node's name (HostKeyAlias, unhashed), so
 * a node cloned anew, with new host keys, can have its old entry removed here:
 * `StrictHostKeyChecking accept-new` then records the new key on the next login
 * instead of refusing with "REMOTE HOST IDENTIFICATION HAS CHANGED".
 */
import { readTextIfPresent } from '../missing-file.js';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';

export function knownHostsPath(stateDir: string): string {
  return path.join(stateDir, 'known_hosts');
}

/** `text` without the entries whose host list names `alias` (plain or as [alias]:port). */
export function withoutHost(text: string, alias: string): string {
  const names = (line: string): string[] =>
    (line.trim().split(/\s+/)[0] ?? '').split(',').map((h) => h.replace(/^\[(.*)\]:\d+$/, '$1'));
  return text
    .split(/(?<=\n)/)
    .filter((line) => line.trimStart().startsWith('#') || !names(line).includes(alias))
    .join('');
}

/** Removes the node's entry (if any); the file is left alone when it holds none. */
export async function forgetHostKey(stateDir: string, alias: string): Promise<void> {
  const file = knownHostsPath(stateDir);
  const text = await readTextIfPresent(file);
  if (text === undefined) return;
  const kept = withoutHost(text, alias);
  if (kept !== text) await writeFileAtomic(file, kept);
}
