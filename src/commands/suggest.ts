/**
 * "did you mean …" for a mistyped command or option name: the closest known
 * name by edit distance, when it is close enough to be a plausible typo.
 */
import { closest, distance } from 'fastest-levenshtein';

/** The known name `typed` is most likely a typo of, or undefined when none is close. */
export function closestName(typed: string, known: readonly string[]): string | undefined {
  if (known.length === 0 || typed.length === 0) return undefined;
  // A shortened name (rebuild → rebuild-node), when only one name starts so.
  const extending = known.filter((k) => typed.length >= 3 && k.startsWith(typed));
  if (extending.length === 1) return extending[0];
  const best = closest(typed, [...known]);
  // Up to a third of the letters wrong (at least 2: one swap of neighbours costs 2).
  return distance(typed, best) <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** " (did you mean 'x'?)" or "". */
export function didYouMean(typed: string, known: readonly string[], prefix = ''): string {
  const best = closestName(typed, known);
  return best === undefined ? '' : ` (did you mean '${prefix}${best}'?)`;
}
