/** `kss login` / `kss logout`: store or forget credentials for a gateway (basic auth, as faas-cli). */
import type { Command } from 'commander';
import { KssClient, ApiError } from '../../client/index.js';
import { authorizationHeader, removeCredentials, saveCredentials, type Credentials } from '../credentials.js';
import { commandContext, gatewayUrl, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';

export function loginCommands(program: Command): void {
  program
    .command('login')
    .description('store credentials for a gateway (the admin password, or an API token)')
    .option('-u, --username <user>', 'admin user name', 'admin')
    .option('-p, --password <password>', 'password (prefer --password-stdin: arguments show in `ps`)')
    .option('-s, --password-stdin', 'read the password (or token) from stdin')
    .option('--token <token>', 'log in with an API token instead (kss_…)')
    .action(async (opts: { username: string; password?: string; passwordStdin?: boolean; token?: string }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const ctx = commandContext(globals);
      const gateway = gatewayUrl(globals);
      let secret = opts.token ?? opts.password;
      if (opts.passwordStdin) secret = (await readStdin()).trim();
      if (!secret) throw new CliError('give the password with --password-stdin (e.g. `cat .kss/basic-auth-password | kss login --password-stdin`) or --token', EXIT_USAGE);
      const credentials: Credentials = opts.token || secret.startsWith('kss_') ? { token: secret } : { username: opts.username, password: secret };
      const client = new KssClient({ gateway, authorization: authorizationHeader(credentials) });
      try {
        await client.listFunctions();
      } catch (err) {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) throw new CliError(`cannot log in to ${gateway}: the ${'token' in credentials ? 'token' : 'user name or password'} was not accepted`);
        throw err;
      }
      const path = saveCredentials(gateway, credentials);
      ctx.out.result({ gateway, stored: path }, () => ctx.out.line(`Logged in to ${gateway}; credentials stored in ${path}`));
    });

  program
    .command('logout')
    .description('forget the credentials stored for a gateway')
    .action((_opts: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const gateway = gatewayUrl(globals);
      const removed = removeCredentials(gateway);
      commandContext(globals).out.result({ gateway, removed }, () => process.stdout.write(removed ? `Logged out of ${gateway}\n` : `No credentials were stored for ${gateway}\n`));
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}
