/**
 * A .vmx file as Workstation writes it: one `key = "value"` per line, keys
 * case-insensitive, values always quoted, special characters escaped as
 * `|XX` (hex). Edits keep every other line — unknown keys, comments and
 * their order — exactly as they were, because Workstation owns the file and
 * a patch must not lose anything it wrote.
 */

type Line = { kind: 'entry'; key: string; value: string } | { kind: 'other'; text: string };

const entryPattern = /^\s*([^=\s#][^=]*?)\s*=\s*"(.*)"\s*$/;

function unescapeValue(raw: string): string {
  return raw.replace(/\|([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function escapeValue(value: string): string {
  return value.replace(
    /[|"\u0000-\u001f]/g,
    (ch) => `|${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

export class VmxFile {
  private readonly lines: Line[];

  private constructor(lines: Line[]) {
    this.lines = lines;
  }

  static parse(text: string): VmxFile {
    const lines: Line[] = [];
    for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
      const match = entryPattern.exec(raw);
      if (match) lines.push({ kind: 'entry', key: match[1]!, value: unescapeValue(match[2]!) });
      else lines.push({ kind: 'other', text: raw });
    }
    while (lines.length > 0) {
      const last = lines[lines.length - 1]!;
      if (last.kind === 'other' && last.text.trim() === '') lines.pop();
      else break;
    }
    return new VmxFile(lines);
  }

  static fromEntries(entries: Iterable<[string, string]>): VmxFile {
    const file = new VmxFile([]);
    for (const [key, value] of entries) file.set(key, value);
    return file;
  }

  private find(key: string): Extract<Line, { kind: 'entry' }> | undefined {
    const wanted = key.toLowerCase();
    return this.lines.find(
      (l): l is Extract<Line, { kind: 'entry' }> => l.kind === 'entry' && l.key.toLowerCase() === wanted,
    );
  }

  get(key: string): string | undefined {
    return this.find(key)?.value;
  }

  has(key: string): boolean {
    return this.find(key) !== undefined;
  }

  /** Updates the key in place (keeping its position and spelling) or appends it. */
  set(key: string, value: string): this {
    const existing = this.find(key);
    if (existing) existing.value = value;
    else this.lines.push({ kind: 'entry', key, value });
    return this;
  }

  setAll(entries: Record<string, string>): this {
    for (const [key, value] of Object.entries(entries)) this.set(key, value);
    return this;
  }

  delete(key: string): boolean {
    const wanted = key.toLowerCase();
    const index = this.lines.findIndex((l) => l.kind === 'entry' && l.key.toLowerCase() === wanted);
    if (index < 0) return false;
    this.lines.splice(index, 1);
    return true;
  }

  /** Removes every key starting with `prefix` (case-insensitive), e.g. "ethernet2.". */
  deletePrefix(prefix: string): number {
    const wanted = prefix.toLowerCase();
    const before = this.lines.length;
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const line = this.lines[i]!;
      if (line.kind === 'entry' && line.key.toLowerCase().startsWith(wanted)) this.lines.splice(i, 1);
    }
    return before - this.lines.length;
  }

  entries(): Array<[string, string]> {
    return this.lines
      .filter((l): l is Extract<Line, { kind: 'entry' }> => l.kind === 'entry')
      .map((l) => [l.key, l.value]);
  }

  toString(): string {
    const body = this.lines.map((l) =>
      l.kind === 'entry' ? `${l.key} = "${escapeValue(l.value)}"` : l.text,
    );
    return `${body.join('\n')}\n`;
  }
}
