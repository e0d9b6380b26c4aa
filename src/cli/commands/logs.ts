/**
 * `kss logs NAME`: a function's replica output and platform events (ready, crashed,
 * OOMKilled, stopped), `-f` to follow; `kss logs --build NAME`: its build log.
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { LogLine } from '../../logs/index.js';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';

export function logsCommand(program: Command): void {
  program
    .command('logs')
    .description('show a function\'s logs (replica output and platform events), or its build log (--build)')
    .argument('<name>', 'function name (or name.namespace)')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('--tail <n>', 'only the last N lines')
    .option('--since <when>', 'only lines since a duration ago (10m, 2h) or an RFC 3339 time')
    .option('--instance <id>', 'only this replica (see `kss describe`)')
    .option('--build', 'the build log (dependency install, compile) instead')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .action(async (name: string, opts: { follow?: boolean; tail?: string; since?: string; instance?: string; build?: boolean; namespace?: string }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const ctx = commandContext(globals);
      if (opts.build) {
        const log = await ctx.client().buildLog(name, opts.namespace);
        ctx.out.result({ name, log }, () => process.stdout.write(log));
        return;
      }
      let tail: number | undefined;
      if (opts.tail !== undefined) {
        tail = Number(opts.tail);
        if (!Number.isInteger(tail) || tail < 0) throw new CliError('--tail: a whole number of lines', EXIT_USAGE);
      }
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      const res = await ctx.client().logs(name, { namespace: opts.namespace, instance: opts.instance, tail, since: opts.since, follow: opts.follow, signal: abort.signal });
      if (!res.body) return;
      const lines = createInterface({ input: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), crlfDelay: Infinity });
      try {
        for await (const raw of lines) {
          if (!raw) continue; // keep-alive
          if (globals.json) {
            process.stdout.write(`${raw}\n`);
            continue;
          }
          const l = JSON.parse(raw) as LogLine;
          const text = l.stream === 'event' ? `[kss] ${l.text}` : l.text;
          process.stdout.write(`${l.timestamp} ${l.instance} ${l.stream === 'stderr' ? '! ' : ''}${text}\n`);
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    });
}
