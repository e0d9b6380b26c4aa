/**
 * CLI output: tables for people, JSON for scripts (`--json`), errors that say what
 * to do next, and exit codes (0 ok, 1 failed, 2 usage).
 */
import { ApiError } from '../client/index.js';
import { isKssError } from '../core/index.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An error the CLI reports and exits on; `exitCode` 2 for usage mistakes. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = EXIT_FAILED) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Output {
  json: boolean;
  /** Prints `data` as JSON in --json mode, else calls `human`. */
  result(data: unknown, human: () => void): void;
  /** Progress for long steps, on stderr so stdout stays clean for pipes and --json. */
  progress(message: string): void;
  line(text?: string): void;
}

export function createOutput(json: boolean, stdout = process.stdout, stderr = process.stderr): Output {
  return {
    json,
    result(data, human) {
      if (json) stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      else human();
    },
    progress(message) {
      if (!json) stderr.write(`${message}\n`);
    },
    line(text = '') {
      stdout.write(`${text}\n`);
    },
  };
}

/** Formats rows as an aligned table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}

/** Prints an error for a person (or as JSON) and returns the exit code to use. */
export function reportError(err: unknown, json: boolean, stderr = process.stderr): number {
  let code: string | undefined;
  let message: string;
  let exit = EXIT_FAILED;
  if (err instanceof CliError) {
    message = err.message;
    exit = err.exitCode;
  } else if (err instanceof ApiError) {
    code = err.code;
    message = err.message;
  } else if (isKssError(err)) {
    code = err.code;
    message = err.message;
    if (err.status === 400) exit = EXIT_USAGE;
  } else {
    message = err instanceof Error ? err.message : String(err);
  }
  if (json) stderr.write(`${JSON.stringify({ error: { code: code ?? 'KSS_CLI_ERROR', message } })}\n`);
  else stderr.write(`Error: ${message}${code ? ` [${code}]` : ''}\n`);
  return exit;
}
