/** `kss revisions NAME`: a function's revisions, its split and its canary; `--pin REV` / `--unpin REV`. */
import type { Command } from 'commander';
import { isRevisionId } from '../../core/revision.js';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';
import { canaryLine, revisionHint, revisionTable, splitText } from '../revision-format.js';

/** Registers `kss revisions NAME [--pin REV | --unpin REV]`. */
export function revisionsCommand(program: Command): void {
  program
    .command('revisions')
    .alias('revs')
    .description('list a function\'s revisions (newest first) with their share of the traffic; pin one to keep it')
    .argument('<name>', 'function name')
    .option('--pin <rev>', 'keep this revision (r3) however many deploys follow')
    .option('--unpin <rev>', 'let garbage collection have this revision again (the last 10 are kept)')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .addHelpText('after', '\nExamples:\n  kss revisions hello\n  kss revisions hello --pin r3\n  kss traffic hello r3=90 r4=10\n  kss rollback hello --to r3')
    .action(async (name: string, opts: { pin?: string; unpin?: string; namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      if (opts.pin !== undefined && opts.unpin !== undefined) throw new CliError('give --pin or --unpin, not both', EXIT_USAGE);
      const client = ctx.client();
      const rev = opts.pin ?? opts.unpin;
      try {
        if (rev !== undefined) {
          const flag = opts.pin !== undefined ? '--pin' : '--unpin';
          if (!isRevisionId(rev)) throw new CliError(`${flag}: "${rev}" is not a revision; revisions are named r1, r2, … (\`kss revisions ${name}\` lists them)`, EXIT_USAGE);
          const pinned = opts.pin !== undefined;
          const entry = await client.pinRevision(name, rev, pinned, opts.namespace);
          ctx.out.result(entry, () =>
            ctx.out.line(pinned ? `${name}: ${entry.revision} pinned; it is kept until \`kss revisions ${name} --unpin ${entry.revision}\`` : `${name}: ${entry.revision} unpinned; it goes once 10 newer revisions exist and it has no traffic`),
          );
          return;
        }
        const view = await client.revisions(name, opts.namespace);
        ctx.out.result(view, () => {
          const now = Date.now();
          ctx.out.line(`${view.function} (${view.namespace}): latest ${view.latestRevision ?? '-'}; traffic ${splitText(view.traffic)}`);
          ctx.out.line();
          ctx.out.line(revisionTable(view, now));
          if (view.canary) {
            ctx.out.line();
            ctx.out.line(canaryLine(view.canary, view.function, now));
          }
        });
      } catch (err) {
        throw revisionHint(err, name);
      }
    });
}
