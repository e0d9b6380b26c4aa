/** `kss remove NAME…` or `kss remove -f stack.yml`. */
import type { Command } from 'commander';
import { readStackFile } from '../stack-file.js';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';

export function removeCommand(program: Command): void {
  program
    .command('remove')
    .alias('rm')
    .description('remove functions (stops their replicas and deletes them)')
    .argument('[names...]', 'function names')
    .option('-f, --file <stack>', 'remove every function of this stack file')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .action(async (names: string[], opts: { file?: string; namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      let gateway: string | undefined;
      if (opts.file) {
        const stack = readStackFile(opts.file);
        gateway = stack.gateway;
        names = [...names, ...stack.functions.map((f) => f.name)];
      }
      if (names.length === 0) throw new CliError('name the functions to remove, or pass -f stack.yml', EXIT_USAGE);
      const client = ctx.client(gateway);
      for (const name of names) {
        await client.removeFunction(name, opts.namespace);
        ctx.out.progress(`removed ${name}`);
      }
      ctx.out.result({ removed: names }, () => {});
    });
}
