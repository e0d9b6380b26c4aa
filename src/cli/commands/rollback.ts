/** `kss rollback NAME [--to REV]`: all traffic back to the revision that served before the latest change, or to REV. */
import type { Command } from 'commander';
import { isRevisionId } from '../../core/revision.js';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';
import { revisionHint, splitSummary, splitText } from '../revision-format.js';

/** Registers `kss rollback NAME [--to REV]`. */
export function rollbackCommand(program: Command): void {
  program
    .command('rollback')
    .description('send all traffic back to the revision that served before the latest change (or --to one); cancels a running canary')
    .argument('<name>', 'function name')
    .option('--to <rev>', 'the revision to roll back to (r3); `kss revisions NAME` lists them')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .action(async (name: string, opts: { to?: string; namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      if (opts.to !== undefined && !isRevisionId(opts.to)) throw new CliError(`--to: "${opts.to}" is not a revision; revisions are named r1, r2, … (\`kss revisions ${name}\` lists them)`, EXIT_USAGE);
      const client = ctx.client();
      try {
        // The split before, so the way back can be printed (not needed for the rollback itself).
        const before = await client.revisions(name, opts.namespace).catch(() => undefined);
        const view = await client.rollback(name, opts.to, opts.namespace);
        ctx.out.result(view, () => {
          const whole = view.traffic.find((t) => t.percent === 100);
          ctx.out.line(`${view.function}: rolled back${whole ? ` to ${whole.revision}` : ''}`);
          for (const line of splitSummary(view)) ctx.out.line(line);
          if (before?.traffic.length) ctx.out.progress(`Before: ${splitText(before.traffic)}. Undo with \`kss traffic ${view.function} ${before.traffic.map((t) => `${t.revision}=${t.percent}`).join(' ')}\`.`);
        });
      } catch (err) {
        throw revisionHint(err, name);
      }
    });
}
