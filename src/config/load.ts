/**
 * cluster.yaml → ClusterSpec. Reading, YAML parsing, shape and semantic
 * checks all report into one list, so a user fixes everything in one pass.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import type { ClusterSpec } from './model.js';
import { SpecError, type SpecProblem } from './problems.js';
import { resolveClusterSpec } from './resolve.js';
import type { ClusterFile } from './schema.js';
import { checkSemantics } from './semantic.js';
import { checkShape } from './structural.js';
import { unclosedQuote, withPositions } from './positions.js';

export const DEFAULT_CLUSTER_FILE = 'cluster.yaml';

export interface ParseOptions {
  /** Absolute path the text came from; stateDir is resolved against its folder. */
  sourcePath?: string;
  cwd?: string;
  /** Add each problem's line and column in the text to its path (what a user reads; tests compare bare paths). */
  locate?: boolean;
}

export interface CheckResult {
  spec: ClusterSpec | undefined;
  problems: SpecProblem[];
}

/**
 * The first double-quoted Windows path ("C:\Program Files\..."): in double
 * quotes YAML reads a backslash as an escape, so the path is refused
 * ("unknown escape sequence" for \V) or, worse, silently changed ("C:\new"
 * holds a line break). "C:\\..." (escaped backslashes) is fine and passes.
 * Quotes inside a comment or a single-quoted value do not count.
 */
function doubleQuotedWindowsPath(text: string): SpecProblem | undefined {
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    const match = /"([A-Za-z]:\\(?!\\)[^"]*)"?/.exec(line);
    if (!match) continue;
    const before = line.slice(0, match.index);
    if (/(^|\s)#/.test(before) || (before.match(/'/g) ?? []).length % 2 === 1) continue;
    const value = match[1]!;
    return {
      path: `(yaml line ${index + 1}, column ${match.index + 1})`,
      message: `"${value}" is a Windows path in double quotes, where YAML reads each backslash as the start of an escape sequence (\\n, \\t, \\U…), so the path would be refused or changed; write it in single quotes ('${value}') or without quotes`,
    };
  }
  return undefined;
}

function parseYaml(text: string): { document?: unknown; problem?: SpecProblem } {
  if (text.includes('\u0000')) {
    return {
      problem: {
        path: '(file)',
        message: 'is not a text file (it contains NUL bytes); cluster.yaml must be UTF-8 YAML',
      },
    };
  }
  if (text.trim() === '' || text.split(/\r?\n/).every((l) => l.trim() === '' || l.trim().startsWith('#'))) {
    return {
      problem: { path: '(file)', message: 'is empty; start from the cluster.yaml shipped with kubestation' },
    };
  }
  const quotedPath = doubleQuotedWindowsPath(text);
  if (quotedPath) return { problem: quotedPath };
  try {
    // CORE schema: YAML 1.2 scalars only (no timestamps, no "yes"/"no" booleans).
    return { document: yaml.load(text, { schema: yaml.CORE_SCHEMA }) };
  } catch (error) {
    if (error instanceof yaml.YAMLException) {
      const mark = error.mark;
      const where = mark ? `line ${mark.line + 1}, column ${mark.column + 1}` : 'unknown position';
      // The parser stops where the text stops making sense; a quote left open earlier is the usual cause.
      const quote = mark ? unclosedQuote(text, mark.line + 1) : undefined;
      if (quote && mark && quote.line < mark.line + 1)
        return {
          problem: {
            path: `(yaml line ${quote.line}, column ${quote.column})`,
            message: `a quoted value opens here and is not closed on its line (the YAML parser noticed at ${where}: ${error.reason}); close the quote`,
          },
        };
      const escape = /escape sequence|hexadecimal character/.test(error.reason);
      const fix = escape
        ? 'in double quotes a backslash starts an escape sequence: write Windows paths in single quotes or without quotes'
        : 'fix the YAML syntax there (indent with spaces, "key: value", one key per line)';
      return { problem: { path: `(yaml ${where})`, message: `${error.reason}; ${fix}` } };
    }
    throw error;
  }
}

/** Several nodes can share one bad default (nodeDefaults.x): say it once. */
function uniqueProblems(problems: SpecProblem[]): SpecProblem[] {
  const byText = new Map(problems.map((p) => [`${p.path}: ${p.message}`, p]));
  return [...byText.values()];
}

/** Checks a cluster.yaml text; returns the spec when there is no problem, and every problem found. */
export function checkClusterSpec(text: string, options: ParseOptions = {}): CheckResult {
  const { document, problem } = parseYaml(text);
  if (problem) return { spec: undefined, problems: [problem] };
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return {
      spec: undefined,
      problems: [
        {
          path: '(top level)',
          message:
            'expected a mapping with apiVersion, kind, name, networks and nodes; see the shipped cluster.yaml',
        },
      ],
    };
  }
  const problems = uniqueProblems([...checkShape(document), ...checkSemantics(document)]);
  if (problems.length > 0)
    return { spec: undefined, problems: options.locate ? withPositions(text, problems) : problems };
  const spec = resolveClusterSpec(document as ClusterFile, {
    sourcePath: options.sourcePath,
    cwd: options.cwd ?? process.cwd(),
  });
  return { spec, problems: [] };
}

/** Parses and validates cluster.yaml text; throws SpecError listing every problem. */
export function parseClusterSpec(text: string, options: ParseOptions = {}): ClusterSpec {
  const { spec, problems } = checkClusterSpec(text, options);
  if (!spec) throw new SpecError(problems, options.sourcePath);
  return spec;
}

/** Reads the file as UTF-8, refusing what is not text; problems carry the path "(file)". */
export async function readClusterFile(filePath: string): Promise<{ text?: string; problem?: SpecProblem }> {
  let info;
  try {
    info = await stat(filePath);
  } catch {
    return {
      problem: {
        path: '(file)',
        message: `${filePath} does not exist; run from the folder holding cluster.yaml or pass --cluster <path>`,
      },
    };
  }
  if (!info.isFile())
    return {
      problem: {
        path: '(file)',
        message: `${filePath} is not a file; pass the path of cluster.yaml with --cluster`,
      },
    };
  if (info.size > 1024 * 1024)
    return {
      problem: {
        path: '(file)',
        message: `${filePath} is ${info.size} bytes; a cluster spec is a small YAML file — is this the right file?`,
      },
    };
  const bytes = await readFile(filePath);
  if (bytes.includes(0))
    return {
      problem: {
        path: '(file)',
        message: `${filePath} is a binary file, not YAML text; pass the path of cluster.yaml with --cluster`,
      },
    };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return {
      problem: { path: '(file)', message: `${filePath} is not UTF-8 text; save cluster.yaml as UTF-8` },
    };
  }
}

export async function loadClusterSpec(filePath: string): Promise<ClusterSpec> {
  const absolute = path.resolve(filePath);
  const { text, problem } = await readClusterFile(absolute);
  if (problem || text === undefined) throw new SpecError([problem!], absolute);
  return parseClusterSpec(text, { sourcePath: absolute, locate: true });
}

/** Where the CLI looks for the spec: --cluster, then KUBESTATION_CLUSTER, then ./cluster.yaml. */
export function clusterFilePath(cwd: string, flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return path.resolve(cwd, flag ?? env.KUBESTATION_CLUSTER ?? DEFAULT_CLUSTER_FILE);
}
