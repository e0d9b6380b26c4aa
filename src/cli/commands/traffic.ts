/** `kss traffic NAME [r3=90 r4=10 …]`: sets the split between revisions, or shows it. */
import type { Command } from 'commander';
import { commandContext, type GlobalOptions } from '../context.js';
import { revisionHint, splitSummary } from '../revision-format.js';
import { parseTrafficArgs } from '../traffic-args.js';

/** Registers `kss traffic NAME [rN=W …]`. */
export function trafficCommand(program: Command): void {
  program
    .command('traffic')
    .description('split a function\'s traffic between revisions by whole-number percents that add up to 100 (cancels a running canary); without weights, show the split')
    .argument('<name>', 'function name')
    .argument('[weights...]', 'revision=percent pairs, e.g. r3=90 r4=10')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .addHelpText('after', '\nExamples:\n  kss traffic hello                 # the current split\n  kss traffic hello r3=90 r4=10\n  kss traffic hello r4=100          # everything to r4\n  kss traffic hello r3=100 r4=0     # r4 gets no share; requests can still pin it (/function/hello@r4)')
    .action(async (name: string, weights: string[], opts: { namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      // Checked before anything is sent.
      const split = weights.length ? parseTrafficArgs(weights, name) : undefined;
      const client = ctx.client();
      try {
        const view = split ? await client.setTraffic(name, split, opts.namespace) : await client.revisions(name, opts.namespace);
        ctx.out.result(view, () => {
          if (split) ctx.out.line(`${view.function}: traffic set`);
          for (const line of splitSummary(view)) ctx.out.line(line);
        });
      } catch (err) {
        throw revisionHint(err, name);
      }
    });
}
