/**
 * How every command reads its arguments: its own option table plus --help/-h,
 * refused with the npm guard first (see npm-guard.ts), and parse errors
 * turned into a message that names the option, suggests the closest one and
 * points at the command's --help.
 */
import { parseArgs } from 'node:util';
import type { CommandContext } from './context.js';
import { refuseLostNpmOptions, type CommandOptions } from './npm-guard.js';
import { didYouMean } from './suggest.js';
import { KubestationError } from '../errors.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export type { CommandOptions } from './npm-guard.js';

const helpOption = { help: { type: 'boolean', short: 'h', default: false } } as const;

export interface CommandArgs<O extends CommandOptions, P extends boolean> {
  /** The command's name, as typed after `kubestation`. */
  command: string;
  options: O;
  /** Printed for --help / -h. */
  help: string;
  allowPositionals?: P;
}

type Parsed<O extends CommandOptions, P extends boolean> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O & typeof helpOption; allowPositionals: P; strict: true }>
>;

/** parseArgs' error codes for what the user typed wrong. */
const userErrors = new Set([
  'ERR_PARSE_ARGS_UNKNOWN_OPTION',
  'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL',
  'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
]);

/**
 * The command's parsed arguments, or undefined after printing its help.
 * Throws before anything else happens when npm kept some of the options.
 */
export function parseCommandArgs<O extends CommandOptions, P extends boolean = false>(
  ctx: Pick<CommandContext, 'argv' | 'env' | 'stdout'>,
  spec: CommandArgs<O, P>,
): Parsed<O, P> | undefined {
  const options = { ...spec.options, ...helpOption };
  if (ctx.argv.includes('--help') || ctx.argv.includes('-h')) {
    ctx.stdout.write(spec.help);
    return undefined;
  }
  refuseLostNpmOptions(spec.command, ctx.argv, spec.options, ctx.env, spec.allowPositionals ?? false);
  try {
    return parseArgs({
      args: ctx.argv,
      options,
      allowPositionals: (spec.allowPositionals ?? false) as P,
      strict: true,
    }) as Parsed<O, P>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (!code || !userErrors.has(code)) throw error;
    throw new KubestationError(
      'BAD_ARGUMENTS',
      describeParseError(code, error as Error, Object.keys(options), ctx.argv),
      {
        fix: `'${COMMAND_PREFIX} ${spec.command} --help' lists its options`,
      },
    );
  }
}

/** What each option's value must be, for the messages about a value missing or taken for an option. */
const OPTION_VALUES: Record<string, string> = {
  'deadline-scale': 'a positive number (e.g. 2 on a slow host)',
  concurrency: 'a whole number from 1 to 64 (e.g. 3)',
  timeout: 'a positive number of seconds (e.g. 300)',
  cluster: 'the path of a cluster file (e.g. cluster.yaml)',
  node: 'a node name from cluster.yaml (e.g. k8s-worker1)',
  kubeconfig: 'the path of a kubeconfig file',
  image: 'a container image reference',
  'state-dir': 'a folder',
};

function describeParseError(code: string, error: Error, known: string[], argv: string[]): string {
  const quoted = /'([^']+)'/.exec(error.message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted) {
    const name = quoted.replace(/^-+/, '').replace(/=.*$/, '');
    return `unknown option ${quoted}${didYouMean(name, known, '--')}`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && quoted)
    return `unexpected argument '${quoted}' (this command takes options only)`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && quoted) {
    // Node's parseArgs: "Option '--x <value>' argument missing", or "... argument is ambiguous" when the next word starts with '-'.
    const option = quoted.replace(/ <value>$/, '');
    const expects = OPTION_VALUES[option.replace(/^-+/, '')] ?? 'a value';
    if (/argument is ambiguous/.test(error.message)) {
      const next = argv[argv.indexOf(option) + 1];
      return `${option} takes ${expects}; ${next === undefined ? 'the next word' : `"${next}"`} starts with '-', so it was not read as its value`;
    }
    return `${option} needs a value: ${expects}`;
  }
  return error.message.replace(/\.$/, '');
}
