/** `kss calls list|show|replay`: the asynchronous calls and their dead letters. */
import type { Command } from 'commander';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE, table } from '../output.js';

export function callsCommands(program: Command): void {
  const calls = program.command('calls').description('asynchronous calls: state, attempts, results, dead letters, replay');

  calls
    .command('list')
    .description('recent calls, most recent first')
    .option('-f, --function <name>', 'only this function (name or name.namespace)')
    .option('-n, --namespace <ns>', 'only this namespace')
    .option('-s, --state <state>', 'queued, running, succeeded, failed or dead')
    .option('--limit <n>', 'how many (1-1000)', '50')
    .action(async (opts: { function?: string; namespace?: string; state?: string; limit: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit: a whole number from 1 to 1000', EXIT_USAGE);
      const { items } = await ctx.client().listCalls({ function: opts.function, namespace: opts.namespace, state: opts.state, limit });
      ctx.out.result(items, () => {
        if (!items.length) return ctx.out.line('No calls. Queue one with `kss invoke NAME --async` or POST /async-function/NAME.');
        ctx.out.line(table(['ID', 'FUNCTION', 'STATE', 'ATTEMPTS', 'STATUS', 'CREATED', 'LAST ERROR'], items.map((c) => [c.id, `${c.function}.${c.namespace}`, c.state, String(c.attempts), c.result ? String(c.result.status) : '-', c.createdAt, (c.lastError ?? '').slice(0, 60)])));
      });
    });

  calls
    .command('show')
    .description('one call: request, attempts, timings, result and callback')
    .argument('<id>', 'call id (X-Call-Id)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const c = await ctx.client().getCall(id);
      ctx.out.result(c, () => {
        ctx.out.line(`Call:       ${c.id}`);
        ctx.out.line(`Function:   ${c.function}.${c.namespace}`);
        ctx.out.line(`State:      ${c.state} after ${c.attempts} attempt(s)`);
        ctx.out.line(`Request:    ${c.request.method} ${c.request.path}${c.request.query ? `?${c.request.query}` : ''} (${c.request.bodyBytes} bytes)`);
        ctx.out.line(`Created:    ${c.createdAt}`);
        if (c.dueAt) ctx.out.line(`Next:       ${c.dueAt}`);
        if (c.finishedAt) ctx.out.line(`Finished:   ${c.finishedAt}`);
        if (c.lastError) ctx.out.line(`Last error: ${c.lastError}`);
        if (c.callback) ctx.out.line(`Callback:   ${c.callback.url} (${c.callback.state}, ${c.callback.attempts} attempt(s)${c.callback.lastError ? `; ${c.callback.lastError}` : ''})`);
        if (c.result) {
          ctx.out.line(`Result:     ${c.result.status} in ${c.result.durationSeconds.toFixed(3)} s, ${c.result.bodyBytes} bytes`);
          if (c.result.body !== undefined) ctx.out.line(c.result.body);
        }
        if (c.state === 'dead' || c.state === 'failed') ctx.out.progress(`Run it again with \`kss calls replay ${c.id}\`.`);
      });
    });

  calls
    .command('replay')
    .description('queue a finished call (failed, dead or succeeded) again, attempts reset')
    .argument('<id>', 'call id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const c = await ctx.client().replayCall(id);
      ctx.out.result(c, () => ctx.out.line(`Queued ${c.id} again; follow it with \`kss calls show ${c.id}\`.`));
    });
}
