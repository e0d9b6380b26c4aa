/**
 * `kss secret create|update|list|remove`, as faas-cli's `secret` commands: the value
 * comes from `--from-literal`, `--from-file` or stdin, and is never printed back.
 * Unlike faas-cli, values are stored byte for byte (faas-cli trims whitespace): pipe
 * with `echo -n`, or pass `--trim`.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_NAMESPACE } from '../../core/index.js';
import { MAX_SECRET_BYTES } from '../../secrets/secret-store.js';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE, table } from '../output.js';

interface ValueOptions {
  fromLiteral?: string;
  fromFile?: string;
  trim?: boolean;
  namespace?: string;
}

export function secretCommands(program: Command): void {
  const secret = program.command('secret').description('manage secrets functions read from /var/openfaas/secrets/<name>');

  for (const action of ['create', 'update'] as const) {
    secret
      .command(action)
      .description(action === 'create' ? 'create a secret from --from-literal, --from-file or stdin' : 'replace the value of a secret (running replicas see it on their next start)')
      .argument('<name>', 'secret name: lower-case letters, digits, - and .')
      .option('--from-literal <value>', 'the value (visible in your shell history and process list: prefer a file or stdin)')
      .option('--from-file <path>', 'read the value from a file, byte for byte')
      .option('--trim', 'strip leading and trailing whitespace from the value (faas-cli always does)')
      .option('-n, --namespace <ns>', `namespace (default ${DEFAULT_NAMESPACE})`)
      .addHelpText('after', `\nExamples:\n  kss secret ${action} db-password --from-file ./db-password.txt\n  echo -n "$TOKEN" | kss secret ${action} api-token\n  kss secret ${action} api-key --from-literal=abc123`)
      .action(async (name: string, opts: ValueOptions, cmd: Command) => {
        const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
        const value = await readValue(name, action, opts);
        const client = ctx.client();
        if (action === 'create') await client.createSecret({ name, value, namespace: opts.namespace });
        else await client.updateSecret({ name, value, namespace: opts.namespace });
        value.fill(0);
        const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
        ctx.out.result({ name, namespace, [action === 'create' ? 'created' : 'updated']: true }, () =>
          ctx.out.line(
            action === 'create'
              ? `Created secret ${name} in namespace ${namespace}. List it under \`secrets:\` in stack.yml; the function reads it from /var/openfaas/secrets/${name}.`
              : `Updated secret ${name} in namespace ${namespace}.`,
          ),
        );
      });
  }

  secret
    .command('list')
    .alias('ls')
    .description('list secrets (names only; values are never shown)')
    .option('-n, --namespace <ns>', `namespace (default ${DEFAULT_NAMESPACE})`)
    .action(async (opts: { namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const items = await ctx.client().listSecrets(opts.namespace);
      ctx.out.result(items, () => {
        if (items.length === 0) {
          ctx.out.line(`No secrets in namespace ${opts.namespace ?? DEFAULT_NAMESPACE}. Create one with \`kss secret create NAME --from-file PATH\`.`);
          return;
        }
        ctx.out.line(table(['NAME', 'NAMESPACE', 'CREATED', 'UPDATED'], items.map((s) => [s.name, s.namespace, s.createdAt ?? '-', s.updatedAt ?? '-'])));
      });
    });

  secret
    .command('remove')
    .alias('rm')
    .description('delete secrets (refused while a deployed function lists one)')
    .argument('<names...>', 'secret names')
    .option('-n, --namespace <ns>', `namespace (default ${DEFAULT_NAMESPACE})`)
    .action(async (names: string[], opts: { namespace?: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const client = ctx.client();
      for (const name of names) {
        await client.removeSecret(name, opts.namespace);
        ctx.out.progress(`removed secret ${name}`);
      }
      ctx.out.result({ removed: names, namespace: opts.namespace ?? DEFAULT_NAMESPACE }, () => {});
    });
}

/** The value from exactly one source, as bytes. */
async function readValue(name: string, action: string, opts: ValueOptions): Promise<Buffer> {
  if (opts.fromLiteral !== undefined && opts.fromFile !== undefined) {
    throw new CliError('give the value once: --from-literal, --from-file, or stdin', EXIT_USAGE);
  }
  let value: Buffer;
  if (opts.fromLiteral !== undefined) value = Buffer.from(opts.fromLiteral, 'utf8');
  else if (opts.fromFile !== undefined) value = readValueFile(opts.fromFile);
  else value = await readStdin();
  if (opts.trim) value = trimBytes(value);
  if (value.length === 0) {
    throw new CliError(`no value for secret ${name}: pass --from-literal VALUE or --from-file PATH, or pipe it in (\`echo -n VALUE | kss secret ${action} ${name}\`)`, EXIT_USAGE);
  }
  if (value.length > MAX_SECRET_BYTES) throw new CliError(`the value is ${Math.ceil(value.length / 1024)} KiB; a secret holds at most ${MAX_SECRET_BYTES / 1024} KiB`, EXIT_USAGE);
  return value;
}

function readValueFile(path: string): Buffer {
  try {
    const size = statSync(path).size;
    if (size > MAX_SECRET_BYTES) throw new CliError(`${path} is ${Math.ceil(size / 1024)} KiB; a secret holds at most ${MAX_SECRET_BYTES / 1024} KiB`, EXIT_USAGE);
    return readFileSync(path);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT_USAGE);
  }
}

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) process.stderr.write('Reading the secret value from stdin; end it with Ctrl+D.\n');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > MAX_SECRET_BYTES) throw new CliError(`the value on stdin is more than ${MAX_SECRET_BYTES / 1024} KiB, the most a secret holds`, EXIT_USAGE);
  }
  return Buffer.concat(chunks);
}

function trimBytes(value: Buffer): Buffer {
  const space = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);
  let start = 0;
  let end = value.length;
  while (start < end && space(value[start]!)) start++;
  while (end > start && space(value[end - 1]!)) end--;
  return value.subarray(start, end);
}
