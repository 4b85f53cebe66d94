/**
 * Refuses a run whose options npm kept for itself.
 *
 * PowerShell (5.1 and 7) drops the `--` in `npm run build-vms -- --dry-run`
 * when it calls npm.ps1, so npm parses `--dry-run` as its own configuration
 * and runs the script without it: the build runs for real. npm leaves a
 * trace, though: the script's environment holds `npm_config_dry_run=true`
 * (npm sets `npm_config_<name>` for every option it parsed, known to npm or
 * not) beside `npm_lifecycle_event`. Measured with npm 10.9 and 11.x:
 *   --dry-run → npm_config_dry_run=true, --json → npm_config_json=true,
 *   --yes / -y → npm_config_yes=true, --force → npm_config_force=true,
 *   --concurrency 2 → npm_config_concurrency=true and "2" passed on as an
 *   argument (npm 11 and 10 alike for names npm does not know),
 *   --node x → npm_config_node=true (npm 11) but npm_config_node_options=x
 *   (npm 10 completes an abbreviation of its own setting node-options).
 * A negated flag turns npm's setting off: --no-golden → npm_config_golden="" (measured, npm 10).
 * npm sets npm_config_yes="" on every run: an empty value (or "false") is
 * npm's default, not an option the user typed.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMAND_PREFIX } from '../command-hint.js';
import { KubestationError } from '../errors.js';

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/**
 * npm 10 and older complete an unambiguous prefix of one of npm's own
 * settings: `--node k8s-worker1` becomes node-options=k8s-worker1 (npm also
 * puts it in NODE_OPTIONS). A real node-options value is Node flags, which
 * start with "-"; the lost option's value does not.
 */
const npmCompletions: Record<string, { setting: string; isLostValue: (value: string) => boolean }> = {
  node: { setting: 'node-options', isLostValue: (value) => !value.trimStart().startsWith('-') },
};

export interface LostOption {
  /** The command's option, e.g. "dry-run". */
  option: string;
  /** The environment variable npm set in its place, e.g. "npm_config_dry_run". */
  variable: string;
  value: string;
}

/** Whether npm started this process: `npm run <script>` or `npx`/`npm exec`. */
export function startedByNpm(env: NodeJS.ProcessEnv): boolean {
  return Object.keys(env).some((key) => /^npm_(lifecycle_event|config_)/i.test(key));
}

/** env[name], matched without regard to case as Windows does. */
function lookup(env: NodeJS.ProcessEnv, name: string): { variable: string; value: string } | undefined {
  const lower = name.toLowerCase();
  const variable = Object.keys(env).find((key) => key.toLowerCase() === lower);
  return variable === undefined || env[variable] === undefined
    ? undefined
    : { variable, value: env[variable]! };
}

/** The options of `options` that appear in argv (long, `--x=v`, `--no-x` or short form). */
function optionsInArgv(argv: string[], options: CommandOptions): Set<string> {
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const seen = new Set<string>();
  for (const token of tokens) if (token.kind === 'option') seen.add(token.name.replace(/^no-/, ''));
  return seen;
}

/**
 * The options a command knows that npm took for itself: npm set its
 * variable for the option, and the option is not in the arguments the
 * command received. Empty when npm did not start this process.
 */
export function lostNpmOptions(
  argv: string[],
  options: CommandOptions,
  env: NodeJS.ProcessEnv,
): LostOption[] {
  if (!startedByNpm(env)) return [];
  const given = optionsInArgv(argv, options);
  const lost: LostOption[] = [];
  // npm answers --help and --version itself and never runs the script.
  for (const option of Object.keys(options).filter((o) => o !== 'help' && o !== 'version')) {
    if (given.has(option)) continue;
    const own = lookup(env, `npm_config_${option.replace(/-/g, '_')}`);
    if (own && own.value !== '' && own.value !== 'false') {
      lost.push({ option, ...own });
      continue;
    }
    // npm reads --no-x as its setting x turned off: a lost --no-golden leaves npm_config_golden="" (npm 10/11;
    // "false" in older npm). Not for npm's own settings that it sets on every run (yes).
    const negated = option.startsWith('no-')
      ? lookup(env, `npm_config_${option.slice(3).replace(/-/g, '_')}`)
      : undefined;
    if (negated && (negated.value === '' || negated.value === 'false') && option !== 'no-yes') {
      lost.push({ option, ...negated });
      continue;
    }
    const completion = npmCompletions[option];
    const completed = completion && lookup(env, `npm_config_${completion.setting.replace(/-/g, '_')}`);
    if (completed && completed.value !== '' && completion.isLostValue(completed.value))
      lost.push({ option, ...completed });
  }
  return lost;
}

/**
 * The command line to type instead: what arrived, with the lost options back.
 * npm passes a lost string option's value on as a plain argument; for a
 * command without positional arguments every plain argument is such a value,
 * so one lost string option gets it back, several get a placeholder.
 */
function retype(
  command: string,
  argv: string[],
  options: CommandOptions,
  allowPositionals: boolean,
  lost: LostOption[],
): string {
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const strays = allowPositionals ? [] : tokens.filter((t) => t.kind === 'positional').map((t) => t.value);
  const kept = allowPositionals
    ? argv
    : argv.filter((_a, i) => !tokens.some((t) => t.kind === 'positional' && t.index === i));
  const lostStrings = lost.filter((l) => options[l.option]!.type === 'string');
  // `--concurrency=1` leaves the value with npm (npm_config_concurrency=1); `--concurrency 1` leaves it a stray argument.
  const valueOf = (l: LostOption): string =>
    l.value !== 'true' && l.value !== ''
      ? l.value
      : lostStrings.length === 1 && strays.length === 1
        ? strays[0]!
        : '<value>';
  const restored = lost.map((l) =>
    options[l.option]!.type === 'string' ? `--${l.option} ${valueOf(l)}` : `--${l.option}`,
  );
  return [COMMAND_PREFIX, command, ...kept, ...restored].join(' ');
}

/** Stops the run, before anything is read or changed, when npm kept some of the command's options. */
export function refuseLostNpmOptions(
  command: string,
  argv: string[],
  options: CommandOptions,
  env: NodeJS.ProcessEnv,
  allowPositionals = false,
): void {
  const lost = lostNpmOptions(argv, options, env);
  if (lost.length === 0) return;
  const one = lost.length === 1;
  throw new KubestationError(
    'NPM_KEPT_OPTIONS',
    `npm took ${lost.map((l) => `--${l.option}`).join(', ')} as its own setting${one ? '' : 's'} (${lost.map((l) => `${l.variable}=${l.value}`).join(', ')}) ` +
      `and did not pass ${one ? 'it' : 'them'} on, so ${command} was stopped before doing anything ` +
      `(PowerShell drops the '--' of 'npm run ${command} -- <options>')`,
    {
      fix:
        `run it as: ${retype(command, argv, options, allowPositionals, lost)}   (in PowerShell or cmd, inside the kubestation folder; in bash: ./kubestation)` +
        (lost.some((l) => l.option === 'json')
          ? ". npm took --json for itself, so it prints its own error JSON after this message: that last JSON is npm's, not kubestation's"
          : ''),
    },
  );
}
