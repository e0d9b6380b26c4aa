/** `kss up`: run the gateway, the local provider and the store in this process. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { VERSION } from '../../version.js';
import { prettyLogStream } from '../log-format.js';
import { CliError, EXIT_USAGE } from '../output.js';
import { collect, parseByteSize } from '../parse.js';
import { readFileSync } from 'node:fs';
import { parseRate, RUNTIMES, type Runtime } from '../../core/index.js';
import type { SandboxMode } from '../../sandbox/index.js';

interface UpOptions {
  port: string;
  host: string;
  dataDir: string;
  maxBody: string;
  logFormat: string;
  logLevel: string;
  auth: boolean;
  clientRateLimit?: string;
  tlsCert?: string;
  tlsKey?: string;
  corsOrigin?: string[];
  headersTimeout: string;
  warmPool: string;
  sandbox: string;
  queueWorkers: string;
  queue: string;
  metrics: boolean;
  callbackAllow?: string[];
  connector?: string[];
  provider: string;
  kubeconfig?: string;
  functionNamespace?: string[];
  gatewayNamespace?: string;
  shutdownGrace: string;
}

/**
 * Runtime images for the Kubernetes provider from `KSS_RUNTIME_IMAGE_<RUNTIME>` (the
 * Helm chart sets them from its values), e.g. `KSS_RUNTIME_IMAGE_NODE=registry/runtime-node:1.2`.
 */
function runtimeImagesFromEnv(): Partial<Record<Runtime, string>> {
  const images: Partial<Record<Runtime, string>> = {};
  for (const runtime of RUNTIMES) {
    const image = process.env[`KSS_RUNTIME_IMAGE_${runtime.toUpperCase()}`];
    if (image) images[runtime] = image;
  }
  return images;
}

export function upCommand(program: Command): void {
  program
    .command('up')
    .description('run the platform: gateway + local provider (embedded default), or gateway + Kubernetes provider')
    .option('-p, --port <port>', 'port to listen on (env KSS_PORT)', process.env.KSS_PORT ?? '8080')
    .option('--host <address>', 'address to listen on (env KSS_HOST)', process.env.KSS_HOST ?? '127.0.0.1')
    .option('-d, --data-dir <dir>', 'where state and code live (env KSS_DATA_DIR)', process.env.KSS_DATA_DIR ?? './.kss')
    .option('--max-body <size>', 'largest request body for functions, e.g. 10Mi (env KSS_MAX_BODY)', process.env.KSS_MAX_BODY ?? '10Mi')
    .option('--log-format <format>', 'pretty or json', process.env.KSS_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'))
    .option('--log-level <level>', 'trace, debug, info, warn or error', process.env.KSS_LOG_LEVEL ?? 'info')
    .option('--no-auth', 'turn off authentication of the admin API (local experiments only)')
    .option('--client-rate-limit <rate>', 'limit each client (token or IP) on authenticated routes, e.g. 50/s')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'and this private key (PEM)')
    .option('--cors-origin <origin>', 'allow browser calls to the admin API from this origin (repeatable)', collect)
    .option('--headers-timeout <seconds>', 'close connections that take longer to send their headers', '10')
    .option('--shutdown-grace <seconds>', 'on SIGTERM/SIGINT: how long in-flight requests and running async calls may finish before connections are cut and the calls go back to the queue (env KSS_SHUTDOWN_GRACE)', process.env.KSS_SHUTDOWN_GRACE ?? '30')
    .option('--warm-pool <n>', 'runtime processes kept started per language for fast cold starts (0: off; env KSS_WARM_POOL)', process.env.KSS_WARM_POOL ?? '2')
    .option('--queue <where>', 'async-call queue: sqlite (in the data dir) or a NATS JetStream URL such as nats://127.0.0.1:4222, for several gateways sharing one queue (env KSS_QUEUE)', process.env.KSS_QUEUE ?? 'sqlite')
    .option('--queue-workers <n>', 'async calls this gateway runs at once over all functions (0: it only accepts them; env KSS_QUEUE_WORKERS)', process.env.KSS_QUEUE_WORKERS ?? '64')
    .option('--connector <url>', 'a broker the OpenFaaS `topic` annotation binds to: mqtt://host:1883, nats://host:4222, amqp://host?exchange=NAME (repeatable)', collect)
    .option('--callback-allow <host>', 'hosts async-call callbacks may reach, e.g. hooks.example.com, *.example.com, 10.0.0.5:8080 (repeatable; default any)', collect)
    .option('--no-metrics', 'do not count invocations in /metrics (to measure what the counting costs)')
    .option('--sandbox <mode>', 'replica isolation: auto (as much as this host allows; see `kss doctor`), require (refuse to start without it) or off (env KSS_SANDBOX)', process.env.KSS_SANDBOX ?? 'auto')
    .option('--provider <name>', 'where functions run: local (processes on this machine) or kubernetes (Deployments in a cluster; env KSS_PROVIDER)', process.env.KSS_PROVIDER ?? 'local')
    .option('--kubeconfig <file>', 'with --provider kubernetes: the cluster (default: in-cluster config, else $KUBECONFIG or ~/.kube/config)')
    .option('--function-namespace <ns>', 'with --provider kubernetes: a namespace functions live in (repeatable; env KSS_FUNCTION_NAMESPACE, comma-separated; default openfaas-fn)', collect)
    .option('--gateway-namespace <ns>', "with --provider kubernetes: the gateway's own namespace, where API tokens are kept as Secrets (env KSS_GATEWAY_NAMESPACE; default: the pod's namespace, else kube-serverless)", process.env.KSS_GATEWAY_NAMESPACE)
    .action(async (opts: UpOptions) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port: "${opts.port}" is not a port number (0-65535)`, EXIT_USAGE);
      if (!['pretty', 'json'].includes(opts.logFormat)) throw new CliError('--log-format: use pretty or json', EXIT_USAGE);
      const maxBodyBytes = parseByteSize(opts.maxBody, '--max-body');
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new CliError('--tls-cert and --tls-key go together', EXIT_USAGE);
      const tls = opts.tlsCert && opts.tlsKey ? { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey) } : undefined;
      let clientRate;
      try {
        clientRate = opts.clientRateLimit ? parseRate(opts.clientRateLimit, '--client-rate-limit') : undefined;
      } catch (err) {
        throw new CliError((err as Error).message, EXIT_USAGE);
      }
      const headersTimeout = Number(opts.headersTimeout);
      if (!(headersTimeout > 0)) throw new CliError('--headers-timeout: a number of seconds', EXIT_USAGE);
      const shutdownGrace = Number(opts.shutdownGrace);
      if (!(shutdownGrace >= 0) || !Number.isFinite(shutdownGrace)) throw new CliError('--shutdown-grace: a number of seconds (0 or more)', EXIT_USAGE);
      const warmPool = Number(opts.warmPool);
      if (!Number.isInteger(warmPool) || warmPool < 0 || warmPool > 32) throw new CliError('--warm-pool: a whole number from 0 to 32', EXIT_USAGE);
      const queueWorkers = Number(opts.queueWorkers);
      if (!Number.isInteger(queueWorkers) || queueWorkers < 0 || queueWorkers > 10_000) throw new CliError('--queue-workers: a whole number from 0 to 10000', EXIT_USAGE);
      if (!['auto', 'require', 'off'].includes(opts.sandbox)) throw new CliError('--sandbox: use auto, require or off', EXIT_USAGE);
      if (!['local', 'kubernetes'].includes(opts.provider)) throw new CliError('--provider: use local or kubernetes', EXIT_USAGE);
      const functionNamespaces = opts.functionNamespace ?? process.env.KSS_FUNCTION_NAMESPACE?.split(',').map((n) => n.trim()).filter(Boolean);
      for (const ns of functionNamespaces ?? []) {
        if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) throw new CliError(`--function-namespace: "${ns}" is not a Kubernetes namespace name`, EXIT_USAGE);
      }
      if (opts.gatewayNamespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(opts.gatewayNamespace)) throw new CliError(`--gateway-namespace: "${opts.gatewayNamespace}" is not a Kubernetes namespace name`, EXIT_USAGE);
      if (opts.provider === 'local' && (opts.kubeconfig || opts.functionNamespace)) throw new CliError('--kubeconfig and --function-namespace go with --provider kubernetes', EXIT_USAGE);
      const logger = pino({ level: opts.logLevel, base: undefined }, opts.logFormat === 'pretty' ? prettyLogStream() : process.stdout);
      const dataDir = resolve(opts.dataDir);
      const platform = await (await import('../../gateway/embedded.js')).startEmbedded({ port, host: opts.host, dataDir, logger, maxBodyBytes, auth: opts.auth, clientRate, tls, corsOrigins: opts.corsOrigin, headersTimeoutMs: headersTimeout * 1000, shutdownGraceMs: shutdownGrace * 1000, warmPool, sandbox: opts.sandbox as SandboxMode, queueConcurrency: queueWorkers, callbackAllow: opts.callbackAllow, queue: opts.queue, metrics: opts.metrics, connectors: opts.connector, provider: opts.provider as 'local' | 'kubernetes', kubeconfig: opts.kubeconfig, functionNamespaces, gatewayNamespace: opts.gatewayNamespace || undefined, runtimeImages: runtimeImagesFromEnv() });
      logger.info({ url: platform.url, dataDir, provider: opts.provider, version: VERSION }, `Kube-Serverless ${VERSION} is up on ${platform.url}`);
      if (!platform.admin) {
        logger.warn('authentication is OFF (--no-auth): anyone who can reach this port can deploy and run code. Use it only for local experiments.');
      } else if (platform.admin.created) {
        logger.info(
          { passwordFile: platform.admin.passwordFile },
          `An admin password was generated for user "${platform.admin.username}" and stored in ${platform.admin.passwordFile} (readable only by you). Log in with: cat ${platform.admin.passwordFile} | kss login --password-stdin`,
        );
      }
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) {
          logger.warn('second signal: exiting now');
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal, graceSeconds: shutdownGrace }, 'stopping: finishing in-flight requests and stopping replicas');
        // A close that hangs past the grace period (a replica that will not stop) still ends the process.
        const deadline = setTimeout(() => {
          logger.error('shutdown did not finish in time: exiting now');
          logger.flush?.();
          process.exit(1);
        }, shutdownGrace * 1000 + 30_000);
        deadline.unref();
        try {
          await platform.close();
        } catch (err) {
          logger.error({ err }, 'shutdown failed');
          logger.flush?.();
          process.exit(1);
        }
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      await new Promise(() => {});
    });
}
