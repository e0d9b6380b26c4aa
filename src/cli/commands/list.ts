/** `kss list` and `kss describe NAME`. */
import type { Command } from 'commander';
import type { FunctionStatus } from '../../core/index.js';
import { commandContext, functionUrl, type GlobalOptions } from '../context.js';
import { table } from '../output.js';

export function listCommand(program: Command): void {
  program
    .command('list')
    .alias('ls')
    .description('list deployed functions')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .action(async (opts: { namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const items = await ctx.client().listFunctions(opts.namespace);
      ctx.out.result(items, () => {
        if (items.length === 0) {
          ctx.out.line('No functions yet. Create one with `kss new hello --lang node`, then `kss deploy -f stack.yml`.');
          return;
        }
        ctx.out.line(table(['NAME', 'RUNTIME', 'READY', 'INVOCATIONS', 'NAMESPACE'], items.map((f) => [f.name, f.runtime, `${f.availableReplicas}/${f.replicas}`, String(f.invocationCount), f.namespace])));
      });
    });

  program
    .command('describe')
    .description('show one function in detail')
    .argument('<name>', 'function name')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .action(async (name: string, opts: { namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const client = ctx.client();
      const f = await client.getFunction(name, opts.namespace);
      ctx.out.result(f, () => ctx.out.line(describe(f, functionUrl(client.gateway, f.name, f.namespace))));
    });
}

function describe(f: FunctionStatus, url: string): string {
  const rows: [string, string][] = [
    ['Name', f.name],
    ['Namespace', f.namespace],
    ['Runtime', f.runtime],
    ['Status', f.availableReplicas > 0 ? 'Ready' : 'Not ready'],
    ['Replicas', `${f.availableReplicas}/${f.replicas} ready`],
    ['Invocations', String(f.invocationCount)],
    ['Cold starts', String(f.coldStarts)],
    ['URL', url],
    ['Image', f.image],
    ['Code', f.code ?? '-'],
    ['Handler', f.handler ?? '(found by the runtime)'],
    ['Timeout', `${f.timeout}s`],
    ['Created', f.createdAt],
    ['Updated', f.updatedAt],
  ];
  const kv = (m?: Record<string, string>) => (m && Object.keys(m).length ? Object.entries(m).map(([k, v]) => `${k}=${v}`).join(', ') : '-');
  rows.push(['Environment', kv(f.envVars)], ['Labels', kv(f.labels)], ['Annotations', kv(f.annotations)]);
  if (f.limits) rows.push(['Limits', kv(f.limits as Record<string, string>)]);
  if (f.requests) rows.push(['Requests', kv(f.requests as Record<string, string>)]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`);
  if (f.instances?.length) {
    lines.push('', table(['INSTANCE', 'STATE', 'PID', 'RESTARTS', 'STARTED', 'LAST EXIT'], f.instances.map((i) => [i.id, i.state, i.pid ? String(i.pid) : '-', String(i.restarts), i.startedAt ?? '-', i.lastExit ?? '-'])));
  }
  return lines.join('\n');
}
