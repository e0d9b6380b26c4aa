/** `kss deploy`: package each function's folder, upload it, deploy, and wait until it is ready. */
import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { buildFunction, uploadFunction } from '../package-function.js';
import { runtimeForLang, readStackFile, type StackFunction } from '../stack-file.js';
import { commandContext, functionUrl, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';
import { collect, parsePairs } from '../parse.js';

/** How a command picks functions: a stack file (optionally one of it), or one from flags. */
export interface SelectOptions {
  file?: string;
  filter?: string;
  name?: string;
  handler?: string;
  runtime?: string;
}

interface DeployOptions extends SelectOptions {
  namespace?: string;
  env?: string[];
  label?: string[];
  wait: boolean;
  readyTimeout: string;
}

export function deployCommand(program: Command): void {
  program
    .command('deploy')
    .description('package, upload and deploy functions from a stack file (or one from flags)')
    .option('-f, --file <stack>', 'stack file (faas-cli format)')
    .option('--filter <name>', 'deploy only this function from the stack file')
    .option('--name <name>', 'deploy one function without a stack file')
    .option('--handler <path>', 'its folder or entry file (with --name)')
    .option('--runtime <runtime>', 'its runtime (with --name)', 'node')
    .option('-n, --namespace <ns>', 'namespace to deploy into')
    .option('-e, --env <name=value>', 'environment variable (repeatable)', collect)
    .option('--label <name=value>', 'label, e.g. com.openfaas.scale.min=2 (repeatable)', collect)
    .option('--no-wait', 'return once deployed, without waiting for a ready replica')
    .option('--ready-timeout <seconds>', 'how long to wait for readiness', '60')
    .action(async (opts: DeployOptions, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const { functions, gateway } = selectFunctions(opts);
      const client = ctx.client(gateway);
      const results = [];
      for (const fn of functions) {
        const extra: Record<string, unknown> = {};
        if (opts.namespace) extra.namespace = opts.namespace;
        if (opts.env?.length) extra.envVars = { ...(fn.spec.envVars as object), ...parsePairs(opts.env, '--env') };
        if (opts.label?.length) extra.labels = { ...(fn.spec.labels as object), ...parsePairs(opts.label, '--label') };
        const spec = await uploadFunction(client, fn, ctx.out, extra);
        await buildFunction(client, spec, ctx.out);
        ctx.out.progress(`${fn.name}: deploying`);
        const { status: deployed, created } = await client.deploy({ ...spec, service: fn.name });
        let status = deployed;
        if (opts.wait) {
          ctx.out.progress(`${fn.name}: waiting for a ready replica`);
          status = await client.waitReady(fn.name, { namespace: deployed.namespace, timeoutMs: Number(opts.readyTimeout) * 1000 });
        }
        const url = functionUrl(client.gateway, fn.name, status.namespace);
        results.push({ name: fn.name, namespace: status.namespace, created, code: spec.code, url, replicas: status.replicas, availableReplicas: status.availableReplicas });
        ctx.out.progress(`${fn.name}: ${created ? 'deployed' : 'updated'}, ${status.availableReplicas}/${status.replicas} ready`);
        if (!ctx.out.json) ctx.out.line(`URL: ${url}`);
      }
      if (ctx.out.json) ctx.out.result(results, () => {});
    });
}

export function selectFunctions(opts: SelectOptions): { functions: StackFunction[]; gateway?: string } {
  if (opts.name) {
    if (opts.file) throw new CliError('use either -f/--file or --name, not both', EXIT_USAGE);
    if (!opts.handler) throw new CliError('--name needs --handler (the function folder or entry file)', EXIT_USAGE);
    const runtime = runtimeForLang(opts.runtime ?? 'node');
    if (!runtime) throw new CliError(`--runtime: "${opts.runtime}" is not a known runtime`, EXIT_USAGE);
    const path = resolve(opts.handler);
    let isFile: boolean;
    try {
      isFile = statSync(path).isFile();
    } catch {
      throw new CliError(`--handler: ${opts.handler} does not exist`, EXIT_USAGE);
    }
    const spec: Record<string, unknown> = { service: opts.name, runtime };
    if (isFile) spec.handler = basename(path);
    return { functions: [{ name: opts.name, runtime, codeDir: isFile ? dirname(path) : path, spec }] };
  }
  const stack = readStackFile(opts.file ?? 'stack.yml');
  const functions = opts.filter ? stack.functions.filter((f) => f.name === opts.filter) : stack.functions;
  if (functions.length === 0) throw new CliError(`--filter: no function "${opts.filter}" in ${opts.file ?? 'stack.yml'}`, EXIT_USAGE);
  return { functions, gateway: stack.gateway };
}
