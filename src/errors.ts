/**
 * Every error kubestation shows a user is a KubestationError: a stable `code`
 * a caller can branch on, a message that says what is wrong, and `fix`, the
 * action that resolves it. Messages never carry secrets: guest log tails are
 * passed through redactSecrets (src/progress/redact.ts) before they are shown.
 */
export class KubestationError extends Error {
  readonly code: string;
  readonly fix: string | undefined;

  constructor(code: string, message: string, options: { fix?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KubestationError';
    this.code = code;
    this.fix = options.fix;
  }
}

/** The text a CLI prints for an error: the message, then the fix on its own line. */
export function describeError(error: unknown): string {
  if (error instanceof KubestationError) {
    return error.fix ? `${error.message}\n  fix: ${error.fix}` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
