/** `kss build`: package, upload and build on the gateway without deploying, to see errors early. */
import type { Command } from 'commander';
import { ApiError } from '../../client/index.js';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError } from '../output.js';
import { buildFunction, uploadFunction } from '../package-function.js';
import { selectFunctions, type SelectOptions } from './deploy.js';

export function buildCommand(program: Command): void {
  program
    .command('build')
    .description('build functions on the gateway (dependencies, compile) without deploying them')
    .option('-f, --file <stack>', 'stack file (faas-cli format)')
    .option('--filter <name>', 'build only this function from the stack file')
    .option('--name <name>', 'build one function without a stack file')
    .option('--handler <path>', 'its folder or entry file (with --name)')
    .option('--runtime <runtime>', 'its runtime (with --name)', 'node')
    .option('--log', 'print the full build log')
    .action(async (opts: SelectOptions & { log?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const { functions, gateway } = selectFunctions(opts);
      const client = ctx.client(gateway);
      const results = [];
      let failed = 0;
      for (const fn of functions) {
        const spec = await uploadFunction(client, fn, ctx.out);
        try {
          const result = await buildFunction(client, spec, ctx.out);
          if (opts.log && !ctx.out.json) ctx.out.line(result.log);
          results.push({ name: fn.name, ok: true, cached: result.cached, key: result.key });
        } catch (err) {
          if (!(err instanceof ApiError) || err.status >= 500 || err.status === 401 || err.status === 403) throw err;
          failed++;
          process.stderr.write(`${fn.name}: build failed [${err.code}]\n${err.message}\n`);
          results.push({ name: fn.name, ok: false, code: err.code, message: err.message });
        }
      }
      ctx.out.result(results, () => {});
      if (failed) throw new CliError(`${failed} of ${functions.length} builds failed`);
    });
}
