/**
 * exec and http functions: nothing to compile, replicas run the uploaded tree as it
 * is (or, for a function deployed from an image with `envProcess` and no code, an
 * empty folder). The build only checks the command, so a typo fails the deploy
 * instead of every request:
 *
 * - `exec` (OpenFaaS classic watchdog): `envProcess` (stack.yml `fprocess:`) runs once
 *   per request, body on stdin, reply on stdout;
 * - `http` (of-watchdog http mode): `envProcess` starts the user's own long-running
 *   server, which listens on `PORT` and answers `GET /ready`.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, posix } from 'node:path';
import { KssError, type FunctionSpec } from '../core/index.js';
import type { BuildRequest, BuildResult, RuntimeBuilder } from './builder.js';

/** First words that are shell syntax or builtins: the command cannot be checked before it runs. */
const SHELL_WORDS = new Set([
  '.', ':', '[', 'alias', 'break', 'case', 'cd', 'command', 'continue', 'eval', 'exec', 'exit', 'export', 'for', 'if', 'read',
  'readonly', 'set', 'shift', 'test', 'times', 'trap', 'ulimit', 'umask', 'unset', 'until', 'wait', 'while', 'echo', 'printf',
  'true', 'false', 'type', 'getopts', 'local', 'return', 'kill', 'pwd', 'hash', 'jobs', 'fg', 'bg', '{', '(', '!',
]);

/**
 * Checks `spec.envProcess`: present, and its program found (a relative path in the
 * function's folder, executable; a bare name on PATH). Throws `KSS_INVALID_HANDLER`.
 */
export function checkCommand(spec: FunctionSpec, sourceDir: string, hasCode: boolean, what: string): string {
  const command = spec.envProcess?.trim();
  if (!command) {
    throw new KssError(
      'KSS_INVALID_HANDLER',
      `envProcess: a ${spec.runtime} function needs the command ${what}; set \`fprocess:\` in stack.yml (envProcess in the API), e.g. fprocess: ${spec.runtime === 'http' ? 'node server.mjs' : './handler.sh'}`,
    );
  }
  const program = /^\S+/.exec(command)![0];
  // Shell syntax (assignments, quotes, substitutions, redirections, builtins) is left to the shell.
  if (SHELL_WORDS.has(program) || !/^[\w./+@-]+$/.test(program)) return command;
  if (program.includes('/')) {
    if (program.startsWith('/')) return command;
    const rel = posix.normalize(program);
    if (rel.startsWith('../')) return command;
    if (!hasCode) {
      throw new KssError('KSS_INVALID_HANDLER', `envProcess: ${program} names a file, but the function has no code; deploy its folder with \`kss deploy\``);
    }
    const file = join(sourceDir, rel);
    let isFile = false;
    try {
      isFile = statSync(file).isFile();
    } catch {
      /* missing */
    }
    if (!isFile) {
      throw new KssError(
        'KSS_INVALID_HANDLER',
        `envProcess: ${rel} is not in the function's folder`,
      );
    }
    try {
      accessSync(file, constants.X_OK);
    } catch {
      throw new KssError('KSS_INVALID_HANDLER', `envProcess: ${rel} is not executable; run \`chmod +x ${rel}\` and deploy again (or use \`sh ${rel}\`)`);
    }
    return command;
  }
  const path = spec.envVars?.PATH ?? process.env.PATH ?? '';
  const found = path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return statSync(join(dir, program)).isFile();
    } catch {
      return false;
    }
  });
  if (!found) {
    throw new KssError(
      'KSS_INVALID_HANDLER',
      `envProcess: "${program}" is not a command on this machine's PATH (the local provider runs commands on the host; images are not pulled)`,
    );
  }
  return command;
}

/** exec: one process per request (classic watchdog). */
export class ExecBuilder implements RuntimeBuilder {
  readonly runtime = 'exec' as const;
  readonly version = '1';

  async build(req: BuildRequest): Promise<BuildResult> {
    const command = checkCommand(req.spec, req.sourceDir, req.spec.code !== undefined, 'to run for each request (request body on stdin, reply on stdout)');
    req.log(`exec: each request runs \`${command}\` with sh -c`);
    return { use: 'source' };
  }
}

/** http: the user's own server, supervised (of-watchdog http mode). */
export class HttpBuilder implements RuntimeBuilder {
  readonly runtime = 'http' as const;
  readonly version = '1';

  async build(req: BuildRequest): Promise<BuildResult> {
    const command = checkCommand(req.spec, req.sourceDir, req.spec.code !== undefined, 'that starts your server (it must listen on $PORT and answer GET /ready)');
    req.log(`http: replicas run \`${command}\` with sh -c and wait for GET /ready`);
    return { use: 'source' };
  }
}
