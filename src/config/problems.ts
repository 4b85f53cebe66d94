import { KubestationError } from '../errors.js';
import { commandHint, shellWord } from '../command-hint.js';

/** One thing wrong with cluster.yaml: where (a field path like `nodes[1].natAddress`) and what. */
export interface SpecProblem {
  path: string;
  /** What is wrong with which value, why, and what would be valid. */
  message: string;
  /** Where in the file (1-based), when the loader was asked to place it (positions.ts). */
  line?: number;
  column?: number;
}

export function formatProblem(problem: SpecProblem): string {
  const at = problem.line === undefined ? '' : ` (line ${problem.line}, column ${problem.column})`;
  return `${problem.path}${at}: ${problem.message}`;
}

/** Thrown by the loader with every problem found, not just the first. */
export class SpecError extends KubestationError {
  readonly problems: SpecProblem[];
  readonly file: string | undefined;

  constructor(problems: SpecProblem[], file: string | undefined) {
    const where = file ?? 'cluster spec';
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      'SPEC_INVALID',
      `${where}: ${count}\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`,
      {
        fix: file
          ? `correct the fields above in ${file}, then check it again with \`${commandHint(`validate --cluster ${shellWord(file)}`)}\``
          : `correct the fields above, then check the file again with \`${commandHint('validate')}\``,
      },
    );
    this.name = 'SpecError';
    this.problems = problems;
    this.file = file;
  }
}

/** JSON-pointer-ish segments to the user's notation: ['nodes', 1, 'natAddress'] → nodes[1].natAddress. */
export function fieldPath(segments: ReadonlyArray<string | number>): string {
  if (segments.length === 0) return '(top level)';
  return segments
    .map((s, i) => (typeof s === 'number' || /^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

/** A value as it should appear in a message: strings quoted, others as YAML would show them. */
export function showValue(value: unknown): string {
  // Quoted but not JSON-escaped, so a Windows path reads as the user wrote it.
  if (typeof value === 'string') return `"${value.replace(/\n/g, '\\n')}"`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
