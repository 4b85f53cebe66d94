/**
 * What every command receives from the CLI. Its own module so that the
 * dependency graph stays one-way: bin → cli → commands/* → the core.
 */
export interface CommandContext {
  /** Arguments after the command name. */
  argv: string[];
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type CommandRunner = (ctx: CommandContext) => Promise<number>;
