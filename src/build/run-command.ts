/**
 * Runs a build command (npm, pip, go) with its output streamed into the build log,
 * bounded in time, and killed when the build is cancelled.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface CommandResult {
  code: number | null;
  /** The last lines of stdout and stderr together (for error messages). */
  tail: string[];
}

export function runCommand(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; log(line: string): void; signal: AbortSignal; timeoutMs?: number },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    options.log(`$ ${[command, ...args].join(' ')}`);
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onLine = (line: string) => {
      options.log(line);
      tail.push(line);
      if (tail.length > 40) tail.shift();
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    const kill = () => child.kill('SIGKILL');
    options.signal.addEventListener('abort', kill, { once: true });
    const timer = setTimeout(() => {
      onLine(`(timed out after ${Math.round((options.timeoutMs ?? 600_000) / 1000)}s)`);
      kill();
    }, options.timeoutMs ?? 600_000);
    timer.unref();
    child.once('error', (err) => {
      onLine(`cannot run ${command}: ${err.message}`);
      clearTimeout(timer);
      resolve({ code: -1, tail });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', kill);
      resolve({ code, tail });
    });
  });
}
