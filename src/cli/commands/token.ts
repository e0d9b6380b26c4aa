/** `kss token create|list|revoke` and `kss audit`. */
import type { Command } from 'commander';
import { commandContext, type GlobalOptions } from '../context.js';
import { table } from '../output.js';
import { collect } from '../parse.js';

export function tokenCommands(program: Command): void {
  const token = program.command('token').description('manage API tokens (admin)');

  token
    .command('create')
    .description('create a token; it is shown once')
    .requiredOption('--scope <scope>', 'read, invoke, deploy or admin (repeatable)', collect)
    .option('--name <name>', 'what the token is for', 'token')
    .option('--expires <duration>', 'lifetime such as 30d, 12h or 90m (default: never)')
    .action(async (opts: { scope: string[]; name: string; expires?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const created = await ctx.client().createToken({ name: opts.name, scopes: opts.scope, expires: opts.expires });
      ctx.out.result(created, () => {
        ctx.out.line(created.token);
        ctx.out.progress(`Token ${created.id} (${created.scopes.join(', ')})${created.expiresAt ? `, expires ${created.expiresAt}` : ''}. It is not shown again: store it now.`);
      });
    });

  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const { items } = await ctx.client().listTokens();
      ctx.out.result(items, () =>
        ctx.out.line(table(['ID', 'NAME', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'], items.map((t) => [t.id, t.name, t.scopes.join(','), t.createdAt, t.expiresAt ?? 'never', t.lastUsedAt ?? '-', t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) < Date.now() ? 'expired' : 'active']))),
      );
    });

  token
    .command('revoke')
    .description('revoke a token at once')
    .argument('<id>', 'token id (see `kss token list`)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      await ctx.client().revokeToken(id);
      ctx.out.result({ revoked: id }, () => ctx.out.line(`Revoked ${id}`));
    });

  program
    .command('audit')
    .description('show the audit log of admin actions (admin)')
    .option('--limit <n>', 'entries to show', '50')
    .option('--since <time>', 'only entries at or after this RFC 3339 time')
    .action(async (opts: { limit: string; since?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const { items } = await ctx.client().audit({ limit: Number(opts.limit), since: opts.since });
      ctx.out.result(items, () => ctx.out.line(table(['TIME', 'ACTOR', 'ACTION', 'TARGET', 'STATUS', 'FROM'], items.map((e) => [e.at, e.actor, e.action, e.target ?? '-', String(e.status), e.ip ?? '-']))));
    });
}
