/**
 * A TOML writer exactly as general as containerd's config needs: a few
 * top-level keys, then tables of scalar (string, integer, boolean) or
 * string-array values. Table path segments that are not bare keys are quoted.
 */
export type TomlValue = string | number | boolean | readonly string[];
export interface TomlTable {
  path: readonly string[];
  values: Readonly<Record<string, TomlValue>>;
}

const BARE = /^[A-Za-z0-9_-]+$/;
const key = (k: string) => (BARE.test(k) ? k : JSON.stringify(k));

function value(v: TomlValue): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`TOML writer handles integers only, got ${v}`);
    return String(v);
  }
  return `[${v.map((s) => JSON.stringify(s)).join(', ')}]`;
}

const entries = (values: Readonly<Record<string, TomlValue>>) =>
  Object.entries(values)
    .map(([k, v]) => `${key(k)} = ${value(v)}\n`)
    .join('');

export function renderToml(
  top: Readonly<Record<string, TomlValue>>,
  tables: readonly TomlTable[],
  header = '',
): string {
  return (
    header +
    entries(top) +
    tables.map((t) => `\n[${t.path.map(key).join('.')}]\n${entries(t.values)}`).join('')
  );
}
