/** `kss triggers [NAME]`: every trigger (cron, MQTT, NATS, RabbitMQ), its state and counts. */
import type { Command } from 'commander';
import { commandContext, type GlobalOptions } from '../context.js';
import { triggerTable } from './list.js';

export function triggersCommand(program: Command): void {
  program
    .command('triggers')
    .description("list event triggers and their state (connected, disconnected and why, next cron run)")
    .argument('[name]', 'only this function (name or name.namespace)')
    .option('-n, --namespace <ns>', 'only this namespace')
    .action(async (name: string | undefined, opts: { namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const { triggers } = await ctx.client().listTriggers({ function: name, namespace: opts.namespace });
      ctx.out.result(triggers, () => {
        if (!triggers.length) {
          return ctx.out.line(
            name
              ? `No triggers on ${name}. Add a \`triggers:\` list to its stack.yml entry (e.g. - type: cron, schedule: "*/5 * * * *") and deploy again.`
              : 'No triggers. Add a `triggers:` list to a function in stack.yml (cron, mqtt, nats, rabbitmq) and deploy it.',
          );
        }
        ctx.out.line(triggerTable(triggers, true));
        const down = triggers.filter((t) => t.state === 'disconnected');
        if (down.length) ctx.out.progress(`${down.length} trigger(s) disconnected; they reconnect with backoff. \`kss logs NAME\` shows when each lost its broker.`);
      });
    });
}
