/**
 * Where in cluster.yaml a problem is: the line and column of the value (or,
 * for a key that should not be there, of the key; for a missing key, of the
 * mapping that lacks it), found with the `yaml` package's source ranges.
 * js-yaml, which reads the spec, keeps no positions. Loaded only when there is
 * a problem to place, so a valid file never pays for it.
 *
 * Also: an unclosed quote. A YAML parser notices it only where the text stops
 * making sense (often many lines later, as "bad indentation"); the line the
 * quote opened on is found here by scanning the lines before that point.
 */
import { createRequire } from 'node:module';
import type { SpecProblem } from './problems.js';

export interface TextPosition {
  /** 1-based, as editors count. */
  line: number;
  column: number;
}

/** "nodes[1].cpus" → ['nodes', 1, 'cpus']; undefined for a path that names no field ("(file)"). */
export function pathSegments(fieldPath: string): (string | number)[] | undefined {
  if (fieldPath.startsWith('(')) return undefined;
  const segments: (string | number)[] = [];
  for (const m of fieldPath.matchAll(/([^.[\]]+)|\[(\d+)\]/g))
    segments.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return segments.length > 0 ? segments : undefined;
}

type YamlModule = typeof import('yaml');

/** Each problem with the line and column where the text shows it. */
export function withPositions(text: string, problems: readonly SpecProblem[]): SpecProblem[] {
  const { parseDocument, LineCounter, isMap, isPair, isScalar } = createRequire(import.meta.url)(
    'yaml',
  ) as YamlModule;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const positionOf = (segments: (string | number)[], preferKey: boolean): TextPosition | undefined => {
    // The deepest node the path reaches: the value (or, for a key that should not be there, the key
    // itself), else the mapping that lacks it.
    for (let depth = preferKey ? segments.length - 1 : segments.length; depth >= 0; depth--) {
      const prefix = segments.slice(0, depth);
      const node = depth === 0 ? doc.contents : doc.getIn(prefix, true);
      if (node && typeof node === 'object' && 'range' in node && Array.isArray(node.range)) {
        if (depth === segments.length - 1 && isMap(node)) {
          const key = segments[depth];
          const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
          if (pair && isScalar(pair.key) && pair.key.range)
            return toPosition(lines.linePos(pair.key.range[0]));
        }
        return toPosition(lines.linePos(node.range[0] as number));
      }
    }
    return undefined;
  };
  return problems.map((problem) => {
    const segments = pathSegments(problem.path);
    const at = segments && positionOf(segments, /^unknown key/.test(problem.message));
    return at ? { ...problem, line: at.line, column: at.column } : problem;
  });
}

function toPosition(pos: { line: number; col: number }): TextPosition {
  return { line: pos.line, column: pos.col };
}

/**
 * The first line before `beforeLine` (1-based) where a quoted value opens and
 * does not close on the same line, with the quote's column; undefined if none.
 */
export function unclosedQuote(text: string, beforeLine: number): TextPosition | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < Math.min(lines.length, beforeLine); i++) {
    const line = lines[i]!;
    // A value that starts with a quote: after "key: ", "- ", or at the start of a flow item.
    const open = /^(\s*(?:-\s+)?(?:[^\s#'"][^:#]*:\s+)?)(["'])/.exec(line);
    if (!open) continue;
    const quote = open[2]!;
    const start = open[1]!.length;
    const rest = line.slice(start + 1);
    const closes = quote === '"' ? /(^|[^\\])(\\\\)*"/.test(rest) : /'(?!')/.test(rest.replace(/''/g, ''));
    if (!closes) return { line: i + 1, column: start + 1 };
  }
  return undefined;
}
