/** `kss deploy`: package each function's folder, upload it, deploy, and wait until it is ready. */
import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { buildFunction, uploadFunction } from '../package-function.js';
import { runtimeForLang, readStackFile, type StackFunction } from '../stack-file.js';
import { commandContext, functionUrl, type GlobalOptions } from '../context.js';
import { CliError, EXIT_USAGE, type Output } from '../output.js';
import { collect, parsePairs } from '../parse.js';
import { ApiError, type KssClient, type RevisionsView } from '../../client/index.js';
import { canaryAnnotation, type CanaryAnnotation, type CanaryFlags } from '../canary-flags.js';
import { canaryLine, splitText } from '../revision-format.js';

/** How a command picks functions: a stack file (optionally one of it), or one from flags. */
export interface SelectOptions {
  file?: string;
  filter?: string;
  name?: string;
  handler?: string;
  runtime?: string;
}

interface DeployOptions extends SelectOptions, CanaryFlags {
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
    .option('--canary <percent>', 'start the new revision at this share of the traffic (10%) and shift it step by step, rolling back by itself on errors')
    .option('--step <percent/interval>', 'with --canary: share added per step and how often (default 20%/1m)')
    .option('--max-error-rate <percent>', 'with --canary: roll back when the new revision\'s error rate in a step is above this (default 5%)')
    .option('--max-p99 <duration>', 'with --canary: roll back when its p99 latency in a step is above this, e.g. 500ms (default: no limit)')
    .addHelpText('after', '\nCanary deploys (sets the kss.canary annotation; see docs/revisions.md):\n  kss deploy -f stack.yml --canary 10%\n  kss deploy -f stack.yml --canary 10% --step 20%/1m --max-error-rate 5% --max-p99 500ms')
    .action(async (opts: DeployOptions, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      // Flags are checked before anything is packaged or uploaded.
      const canary = canaryAnnotation(opts);
      const { functions, gateway } = selectFunctions(opts);
      const client = ctx.client(gateway);
      const results = [];
      for (const fn of functions) {
        const extra: Record<string, unknown> = {};
        if (opts.namespace) extra.namespace = opts.namespace;
        if (opts.env?.length) extra.envVars = { ...(fn.spec.envVars as object), ...parsePairs(opts.env, '--env') };
        if (opts.label?.length) extra.labels = { ...(fn.spec.labels as object), ...parsePairs(opts.label, '--label') };
        if (canary) extra.annotations = { ...(fn.spec.annotations as object), [canary.key]: canary.value };
        const spec = await uploadFunction(client, fn, ctx.out, extra);
        await buildFunction(client, spec, ctx.out);
        const before = await latestRevision(client, fn.name, (spec.namespace as string | undefined) ?? opts.namespace);
        ctx.out.progress(`${fn.name}: deploying${canary ? ` as a canary (${canary.value})` : ''}`);
        const { status: deployed, created } = await client.deploy({ ...spec, service: fn.name });
        let status = deployed;
        if (opts.wait) {
          ctx.out.progress(`${fn.name}: waiting for a ready replica`);
          status = await client.waitReady(fn.name, { namespace: deployed.namespace, timeoutMs: Number(opts.readyTimeout) * 1000 });
        }
        const url = functionUrl(client.gateway, fn.name, status.namespace);
        // A gateway without revisions (older, or the Kubernetes provider for now) answers an error: nothing to print then.
        const revisions = await client.revisions(fn.name, status.namespace).then((v) => (v.latestRevision ? v : undefined), () => undefined);
        const revision = revisions ? { revision: revisions.latestRevision, revisionCreated: revisions.latestRevision !== before, traffic: revisions.traffic, canary: revisions.canary } : {};
        results.push({ name: fn.name, namespace: status.namespace, created, code: spec.code, url, replicas: status.replicas, availableReplicas: status.availableReplicas, ...revision });
        ctx.out.progress(`${fn.name}: ${created ? 'deployed' : 'updated'}, ${status.availableReplicas}/${status.replicas} ready`);
        if (!ctx.out.json) {
          ctx.out.line(`URL: ${url}`);
          if (revisions) printRevision(ctx.out, revisions, before, canary);
        }
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

/** The function's latest revision before the deploy; undefined for a new function (or a gateway without revisions). */
async function latestRevision(client: KssClient, name: string, namespace?: string): Promise<string | undefined> {
  try {
    return (await client.getFunction(name, namespace)).latestRevision;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'KSS_FUNCTION_NOT_FOUND') return undefined;
    throw err;
  }
}

/** Which revision the deploy made (if any), the split, and where a canary starts. */
function printRevision(out: Output, view: RevisionsView, before: string | undefined, canary: CanaryAnnotation | undefined): void {
  const made = view.latestRevision !== before;
  if (!made) {
    out.line(`Revision: ${view.latestRevision} (unchanged: this deploy changed nothing, so no new revision); traffic ${splitText(view.traffic)}`);
    if (canary) out.progress(`--canary had nothing to do: a canary starts only when a deploy changes the function.`);
    return;
  }
  out.line(`Revision: ${view.latestRevision} created; traffic ${splitText(view.traffic)}`);
  if (view.canary?.revision === view.latestRevision) {
    out.line(canaryLine(view.canary, view.function));
  } else if (canary) {
    out.progress(
      before === undefined
        ? `${view.latestRevision} is the first revision, so it takes all the traffic: a canary needs an earlier revision to compare with.`
        : `No canary is running for ${view.latestRevision}; \`kss logs ${view.function}\` shows why (it may have finished or been rolled back already).`,
    );
  }
}
