/**
 * Plain-text log lines for the runtime itself, prefixed with the function's
 * name so they stay attributable once the platform merges replica output.
 * Informational lines go to stdout, warnings and errors to stderr.
 */

/** Where the runtime writes its own messages. */
export interface RuntimeLogger {
  info(message: string): void;
  warn(message: string): void;
  /** Writes `message`, then the error's stack (or its string form) when given. */
  error(message: string, err?: unknown): void;
}

/** Renders an unknown thrown value with its stack when it has one. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  try {
    return typeof err === 'string' ? err : JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/** Creates the logger of one function's runtime. */
export function createLogger(functionName: string): RuntimeLogger {
  const prefix = `[kss-runtime ${functionName}]`;
  return {
    info: (message) => {
      process.stdout.write(`${prefix} ${message}\n`);
    },
    warn: (message) => {
      process.stderr.write(`${prefix} warn: ${message}\n`);
    },
    error: (message, err) => {
      process.stderr.write(`${prefix} error: ${message}${err === undefined ? '' : `\n${describeError(err)}`}\n`);
    },
  };
}
