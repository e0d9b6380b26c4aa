/** `kss invoke NAME`: sends stdin (or --data) to the function and writes its reply to stdout. */
import type { Command } from 'commander';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { commandContext, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';
import { collect, parsePairs } from '../parse.js';

export function invokeCommand(program: Command): void {
  program
    .command('invoke')
    .description('invoke a function: the request body is read from stdin (or --data), the reply goes to stdout')
    .argument('<name>', 'function name')
    .option('-n, --namespace <ns>', 'namespace (default openfaas-fn)')
    .option('-X, --method <method>', 'HTTP method', 'POST')
    .option('--path <path>', 'path and query below the function, e.g. /items?x=1')
    .option('-H, --header <name=value>', 'request header (repeatable)', collect)
    .option('-d, --data <text>', 'request body (instead of stdin)')
    .option('--content-type <type>', 'Content-Type of the body', 'text/plain')
    .option('-i, --include', 'print the status line and headers before the body')
    .option('-a, --async', 'queue the call (durable, retried) and print its id instead of waiting for the reply')
    .option('--callback-url <url>', 'with --async: where the result is POSTed when the call finishes')
    .action(async (name: string, opts: { namespace?: string; method: string; path?: string; header?: string[]; data?: string; contentType: string; include?: boolean; async?: boolean; callbackUrl?: string }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const ctx = commandContext(globals);
      const method = opts.method.toUpperCase();
      const hasBody = method !== 'GET' && method !== 'HEAD';
      let body: Buffer | undefined;
      if (hasBody) body = opts.data !== undefined ? Buffer.from(opts.data) : process.stdin.isTTY ? Buffer.alloc(0) : await readAll(process.stdin);
      const headers = { 'content-type': opts.contentType, ...parsePairs(opts.header, '--header') };
      if (opts.callbackUrl && !opts.async) throw new CliError('--callback-url goes with --async', EXIT_USAGE);
      if (opts.async) {
        const id = await ctx.client().invokeAsync(name, { method, path: opts.path, headers, body: (body ?? null) as BodyInit | null, namespace: opts.namespace, ...(opts.callbackUrl ? { callbackUrl: opts.callbackUrl } : {}) });
        ctx.out.result({ callId: id }, () => {
          ctx.out.line(id);
          ctx.out.progress(`Queued. Follow it with \`kss calls show ${id}\`.`);
        });
        return;
      }
      const started = performance.now();
      const res = await ctx.client().invoke(name, { method, path: opts.path, headers, body: (body ?? null) as BodyInit | null, namespace: opts.namespace });
      if (globals.json) {
        const text = await res.text();
        ctx.out.result({ status: res.status, headers: Object.fromEntries(res.headers), body: text, durationMs: Math.round(performance.now() - started) }, () => {});
      } else {
        if (opts.include) {
          process.stdout.write(`HTTP ${res.status} ${res.statusText}\n`);
          for (const [k, v] of res.headers) process.stdout.write(`${k}: ${v}\n`);
          process.stdout.write('\n');
        }
        if (res.body) await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), process.stdout, { end: false });
      }
      if (res.status >= 400) throw new CliError(`function "${name}" answered ${res.status} ${res.statusText}`);
    });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
