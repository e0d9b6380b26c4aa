/** `kss list` and `kss describe NAME`. */
import type { Command } from 'commander';
import type { FunctionStatus } from '../../core/index.js';
import { commandContext, functionUrl, type GlobalOptions } from '../context.js';
import { table } from '../output.js';
import type { TriggerStatus } from '../../triggers/trigger-manager.js';

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
      const triggerStates = f.triggers?.length || f.annotations?.topic ? (await client.listTriggers({ function: `${f.name}.${f.namespace}` }).catch(() => ({ triggers: [] }))).triggers : [];
      ctx.out.result({ ...f, triggerStates }, () => ctx.out.line(describe(f, functionUrl(client.gateway, f.name, f.namespace), triggerStates)));
    });
}

/** The triggers as `kss triggers` and `kss describe` show them. */
export function triggerTable(triggers: TriggerStatus[], withFunction: boolean): string {
  const state = (t: TriggerStatus) => (t.state === 'scheduled' && t.nextRunAt ? `scheduled, next ${t.nextRunAt}` : t.reason ? `${t.state}: ${t.reason}` : t.state);
  const counts = (t: TriggerStatus) => `${t.messages.accepted + t.messages.succeeded} ok, ${t.messages.failed} failed${t.messages.deadLettered ? `, ${t.messages.deadLettered} dead` : ''}${t.messages.skipped ? `, ${t.messages.skipped} skipped` : ''}`;
  return table(
    [...(withFunction ? ['FUNCTION'] : []), 'TRIGGER', 'TYPE', 'MODE', 'SOURCE', 'STATE', 'MESSAGES'],
    triggers.map((t) => [...(withFunction ? [`${t.function}.${t.namespace}`] : []), t.name, t.type, t.mode, t.source, state(t), counts(t)]),
  );
}

function describe(f: FunctionStatus, url: string, triggers: TriggerStatus[]): string {
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
  if (triggers.length) lines.push('', triggerTable(triggers, false));
  return lines.join('\n');
}
