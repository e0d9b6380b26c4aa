/** `kss scale NAME --replicas N` (pins the count) and `kss scale NAME --auto` (back to the autoscaler). */
import type { Command } from 'commander';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';

export function scaleCommand(program: Command): void {
  program
    .command('scale')
    .description('set a function\'s replicas by hand (within its min/max), or hand it back to the autoscaler')
    .argument('<name>', 'function name')
    .option('-r, --replicas <n>', 'replicas to run (0 needs com.openfaas.scale.zero=true)')
    .option('--auto', 'let the autoscaler decide again')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .action(async (name: string, opts: { replicas?: string; auto?: boolean; namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      if ((opts.replicas === undefined) === !opts.auto) throw new CliError('give either --replicas N or --auto', EXIT_USAGE);
      const client = ctx.client();
      if (opts.auto) {
        await client.autoscale(name, opts.namespace);
        ctx.out.result({ name, autoscale: true }, () => ctx.out.line(`${name}: back to the autoscaler`));
        return;
      }
      const replicas = Number(opts.replicas);
      if (!Number.isInteger(replicas) || replicas < 0) throw new CliError(`--replicas: "${opts.replicas}" is not a whole number`, EXIT_USAGE);
      await client.scale(name, replicas, opts.namespace);
      ctx.out.result({ name, replicas }, () => ctx.out.line(`${name}: scaled to ${replicas} (kept there until \`kss scale ${name} --auto\`)`));
    });
}
