/** `kss logs --build NAME`: the log of the build a function runs from. */
import type { Command } from 'commander';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';

export function logsCommand(program: Command): void {
  program
    .command('logs')
    .description('show a function\'s build log (--build)')
    .argument('<name>', 'function name')
    .option('--build', 'the build log (dependency install, compile)')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .action(async (name: string, opts: { build?: boolean; namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      if (!opts.build) throw new CliError('only build logs are kept in this version: use `kss logs --build NAME` (replica output goes to the gateway\'s log)', EXIT_USAGE);
      const log = await ctx.client().buildLog(name, opts.namespace);
      ctx.out.result({ name, log }, () => process.stdout.write(log));
    });
}
