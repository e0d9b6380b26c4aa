/**
 * The embedded default: gateway + local provider + SQLite state in one data dir.
 * `kss up` and the integration tests start the platform through here.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { costOf, DEFAULT_NAMESPACE, functionOf, KssError, systemClock, type Clock, type Rate, type Runtime, type SecretSource } from '../core/index.js';
import { combineObservers, DEFAULT_MAX_BODY_BYTES, InvocationStats, Invoker, type InvokeObserver } from '../invoke/index.js';
import { GatewayMetrics, MetricsHistory } from '../metrics/index.js';
import { LocalProvider, NODE_COMMAND, VolumeFolders, WarmPool, type ReplicaOptions } from '../providers/local/index.js';
import { KubernetesProvider, LeaderElector, loadKubeConfig } from '../providers/kubernetes/index.js';
import { KubernetesFunctionStore } from '../store/kubernetes-store.js';
import { KubernetesRevisionStore } from '../store/kubernetes-revision-store.js';
import { packDirectory } from '../archive/index.js';
import { pythonCommand } from '../providers/local/python-launcher.js';
import { CanaryController, FunctionService } from '../service/index.js';
import { createCodeStore, openDatabase, SqliteRevisionStore, SqliteStore } from '../store/index.js';
import { AuditLog, Authenticator, defaultGatewayNamespace, ensureAdminCredentials, KubernetesTokenStore, SessionStore, TokenStore, type AdminCredentials, type ApiTokens } from './auth/index.js';
import { RateLimiter } from './limits/index.js';
import { VERSION } from '../version.js';
import { createGateway } from './server.js';
import { BuildService, DEFAULT_BUILDERS } from '../build/index.js';
import { Autoscaler } from '../scaler/index.js';
import { KubernetesSecretStore, openSecretStore, SecretService, type SecretBackend } from '../secrets/index.js';
import { setUpSandbox, VolumeGidAllocator, type SandboxMode, type SandboxSetup } from '../sandbox/index.js';
import { LogStore } from '../logs/index.js';
import { AsyncCalls, Dispatcher, deliverCallback, openJetStreamQueue, openSqliteQueue, queueConcurrencyOf, retryPolicyOf, runCall, type CallQueue } from '../queue/index.js';
import { EXEC_SHIM_ENTRY, PYTHON_RUNTIME_ENTRY } from '../providers/local/python-launcher.js';
import { pythonInterpreter } from '../build/python-interpreter.js';
import { connectorTrigger, DEFAULT_CONNECTORS, SqliteTriggerMemory, TriggerManager } from '../triggers/index.js';

export interface EmbeddedOptions {
  /** Port to listen on; 0 picks a free one. Default 8080. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1 (the admin API has no auth yet, so not on the network by default). */
  host?: string;
  dataDir: string;
  logger: Logger;
  clock?: Clock;
  maxBodyBytes?: number;
  maxCodeBytes?: number;
  replica?: Partial<ReplicaOptions>;
  /** Require credentials on the admin API (default true). `false` is `kss up --no-auth`. */
  auth?: boolean;
  /** A per-client rate limit over every authenticated route. */
  clientRate?: Rate;
  tls?: { key: Buffer; cert: Buffer };
  corsOrigins?: string[];
  headersTimeoutMs?: number;
  /** Most requests held at once per function waiting for a cold start (default 1000). */
  maxColdWaiters?: number;
  /** Warm processes kept per pooled runtime (default 2; 0 turns the pool off). */
  warmPool?: number;
  /** Autoscaler timing (defaults: 2 s ticks, 60 s / 6 s windows; shorter in tests). */
  autoscaler?: { tickMs?: number; windows?: { stableMs: number; panicMs: number } };
  /** Replica isolation (default `auto`: namespaces, a uid per function and cgroups where the host allows). */
  sandbox?: SandboxMode;
  /**
   * Where async calls are queued: `sqlite` (default; `queue.db` in the data dir) or a NATS
   * URL (`nats://127.0.0.1:4222`) for JetStream, shared by several gateways.
   */
  queue?: string;
  /** Hosts async-call callbacks may reach (see AsyncCallsOptions.callbackAllow); default any http(s). */
  callbackAllow?: string[];
  /** Async calls running at once over all functions (default 64; 0: this gateway only accepts calls, others run them). */
  queueConcurrency?: number;
  /** Count invocations in the Prometheus metrics (default true; false is for the overhead bench). */
  metrics?: boolean;
  /** Size of one function log file before it rotates (default 1 MiB; two files are kept). */
  logFileBytes?: number;
  /** Dispatcher randomness (backoff jitter); tests pin it. */
  random?: () => number;
  /**
   * Broker URLs the OpenFaaS `topic: a,b` annotation binds to (`kss up --connector URL`):
   * `mqtt://host:1883`, `nats://host:4222`, `amqp://host?exchange=NAME`.
   */
  connectors?: string[];
  /** Where the dashboard's built files are (default: `dashboard/dist` of this installation). */
  uiDir?: string;
  /** Interval of the dashboard's live charts (default 5 s; shorter in tests). */
  historyIntervalMs?: number;
  /**
   * How long `close()` lets requests in flight and running async calls finish (default 30 s):
   * then connections still open are cut and async calls still running go back to the queue.
   */
  shutdownGraceMs?: number;
  /** Longest an update waits for its new revision's first ready replica before moving traffic to it (default 30 s). */
  readyWaitMs?: number;
  /** The canary controller's clock (default: `clock`); tests drive releases with a fake one. */
  canaryClock?: Clock;
  /**
   * Where functions run: `local` (default: sandboxed processes here) or `kubernetes`
   * (Deployments in a cluster; function specs are `Function` resources there).
   */
  provider?: 'local' | 'kubernetes';
  /** Kubernetes: a kubeconfig file (default: in-cluster config, else ~/.kube/config). */
  kubeconfig?: string;
  /** Kubernetes: the namespaces functions live in (default `openfaas-fn`). */
  functionNamespaces?: string[];
  /** Kubernetes: how often every function's objects are applied again, repairing drift (default 30 s). */
  resyncMs?: number;
  /** Kubernetes: runtime images by runtime (default `ghcr.io/kube-serverless/runtime-<runtime>:<version>`). */
  runtimeImages?: Partial<Record<Runtime, string>>;
  /**
   * Kubernetes: the gateway's own namespace, where API tokens are Secrets (default: the
   * pod's namespace when in a cluster, else `kube-serverless`).
   */
  gatewayNamespace?: string;
  /**
   * Kubernetes: timing of the Lease (`kube-serverless-triggers` in the gateway's
   * namespace) that picks the one replica running cron and MQTT triggers (defaults
   * 15 s / 5 s / 2 s; tests shorten them).
   */
  leaderElection?: { leaseDurationMs?: number; renewIntervalMs?: number; retryPeriodMs?: number; identity?: string };
}

export interface EmbeddedPlatform {
  url: string;
  port: number;
  app: FastifyInstance;
  service: FunctionService;
  provider: LocalProvider | KubernetesProvider;
  /** The admin account, or undefined with auth off. */
  admin?: AdminCredentials;
  /** API tokens: SQLite in the data dir locally; Secrets in the gateway's namespace on Kubernetes (shared by every replica). */
  tokens: ApiTokens;
  /**
   * The secret store (a `SecretSource` for providers): encrypted in the same database and
   * data dir locally; Kubernetes Secrets in the functions' namespaces on Kubernetes.
   */
  secrets: SecretBackend & SecretSource;
  /** The durable queue of async calls. */
  queue: CallQueue;
  /** The running triggers. */
  triggers: TriggerManager;
  /**
   * Stops accepting (new connections are refused), lets in-flight requests and running async
   * calls finish within the shutdown grace period (then cuts the connections left and returns
   * the calls left to the queue), stops every replica, closes the store. Idempotent.
   */
  close(): Promise<void>;
}

export const DEFAULT_MAX_CODE_BYTES = 100 * 1024 * 1024;
/** Default of {@link EmbeddedOptions.shutdownGraceMs}. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;

export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedPlatform> {
  // Checked before anything is opened: a bad --connector stops the start with nothing to clean up.
  for (const url of options.connectors ?? []) connectorTrigger(url, 'check', 0);
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logger = options.logger;
  const clock = options.clock ?? systemClock;
  const maxCodeBytes = options.maxCodeBytes ?? DEFAULT_MAX_CODE_BYTES;

  const db = openDatabase(join(dataDir, 'kss.db'));
  const onKubernetes = options.provider === 'kubernetes';
  const kubeConfig = onKubernetes ? loadKubeConfig(options.kubeconfig) : undefined;
  const functionNamespaces = options.functionNamespaces ?? [DEFAULT_NAMESPACE];
  // On Kubernetes the specs are Function resources (shared by every gateway replica); here, SQLite.
  const store = kubeConfig ? new KubernetesFunctionStore({ kubeConfig, clock, namespaces: functionNamespaces }) : new SqliteStore(db, clock);
  // On Kubernetes, Secrets in the gateway's namespace, so every replica accepts every token.
  const kubeTokens = kubeConfig
    ? new KubernetesTokenStore({ kubeConfig, clock, namespace: options.gatewayNamespace ?? defaultGatewayNamespace(), logger: logger.child({ component: 'tokens' }) })
    : undefined;
  if (kubeTokens) {
    try {
      await kubeTokens.start();
    } catch (err) {
      store.close();
      db.close();
      throw err;
    }
  }
  const tokens: ApiTokens = kubeTokens ?? new TokenStore(db, clock);
  const sessions = new SessionStore(clock);
  // Dashboard sessions opened with a token end with it, also when another replica revoked it.
  kubeTokens?.onRevoked((id) => sessions.deleteFor(`token:${id}`));
  const audit = new AuditLog(db, clock);
  // On Kubernetes, Secrets in the functions' namespace (what their pods mount). Here, the key in
  // <dataDir>/secrets.key; a missing, malformed or wrong key stops the start (see src/secrets/secret-key.ts).
  let secrets: SecretBackend & SecretSource;
  if (kubeConfig) {
    secrets = new KubernetesSecretStore({ kubeConfig, clock });
  } else {
    try {
      const opened = openSecretStore({ db, dataDir, clock });
      secrets = opened.store;
      for (const warning of opened.warnings) logger.warn(warning);
    } catch (err) {
      db.close();
      throw err;
    }
  }
  const admin = options.auth === false ? undefined : ensureAdminCredentials(dataDir);
  const authenticator = new Authenticator({ admin, tokens });
  const limiter = new RateLimiter(clock);
  const code = createCodeStore({ dir: join(dataDir, 'code'), maxArchiveBytes: maxCodeBytes });
  const stats = new InvocationStats(clock);
  // (metrics is created below, once the provider and the service exist; the invoker reports to both.)
  const builds = new BuildService({ dir: join(dataDir, 'builds'), code, builders: DEFAULT_BUILDERS, logger: logger.child({ component: 'build' }) });
  const logs = new LogStore({ dir: join(dataDir, 'logs'), clock, ...(options.logFileBytes ? { maxBytes: options.logFileBytes } : {}) });
  let pool: WarmPool | undefined;
  let provider: LocalProvider | KubernetesProvider;
  if (kubeConfig) {
    provider = new KubernetesProvider({
      kubeConfig,
      logger: logger.child({ component: 'kubernetes' }),
      clock,
      namespaces: functionNamespaces,
      resyncMs: options.resyncMs,
      ...(options.runtimeImages && Object.keys(options.runtimeImages).length ? { images: options.runtimeImages } : {}),
      // Pods run what the gateway built: nothing is compiled or installed in the cluster.
      artifactArchive: async (spec) => {
        const artifact = builds.artifact(spec);
        return { archive: await packDirectory(artifact.dir), ...(artifact.handler ? { handler: artifact.handler } : {}) };
      },
    });
  } else {
    // Node and Python get a pool of 2 by default (issue #5); runtimes without a pool mode spawn on demand.
    const isolation = sandboxFor(options.sandbox ?? 'auto', { db, dataDir, logger, secrets });
    const poolSize = options.warmPool ?? 2;
    // In a sandbox, one generic exec shim too (Go, exec, http, Node/Python that cannot pool): see warm-pool.ts.
    const shim = { size: 1, command: { command: pythonCommand().command, args: ['-S', EXEC_SHIM_ENTRY] } };
    pool = poolSize > 0 ? new WarmPool({ sizes: { node: poolSize, python: poolSize }, commands: { node: NODE_COMMAND, python: pythonCommand() }, ...(isolation.sandbox ? { shim } : {}), host: '127.0.0.1', logger: logger.child({ component: 'warm-pool' }), ...(isolation.sandbox ? { isolation: isolation.sandbox } : {}) }) : undefined;
    provider = new LocalProvider({
      artifacts: builds,
      logger: logger.child({ component: 'local' }),
      clock,
      replica: options.replica,
      pool,
      ...(isolation.sandbox ? { isolation: isolation.sandbox } : {}),
      // A revision's deployment (NAME--rN) logs into its function's stream; the instance id names the revision.
      onLog: (ref, instance, stream, text) => logs.append(functionOf(ref).ref, instance, stream, text),
      // kss.volume: <dataDir>/volumes/<name>, root:<gid> 2770 when we can chown (docs/volumes.md).
      volumes: new VolumeFolders({ root: join(dataDir, 'volumes'), gids: new VolumeGidAllocator(db), setGroup: process.getuid?.() === 0 }),
    });
  }
  // Revisions (issue #12, docs/revisions.md): beside the specs in SQLite; on Kubernetes, ControllerRevisions owned by the Function.
  const revisions = kubeConfig ? new KubernetesRevisionStore({ kubeConfig }) : new SqliteRevisionStore(db);
  const service = new FunctionService({ store, provider, code, builds, stats, logger, version: VERSION, secrets, clock, ...(options.canaryClock ? { canaryClock: options.canaryClock } : {}), revisions, ...(options.readyWaitMs !== undefined ? { readyWaitMs: options.readyWaitMs } : {}) });
  // The dashboard's live charts: counted on the invoke path, closed every interval from the provider's view.
  const history = new MetricsHistory({ live: () => service.liveByFunction(), clock, intervalMs: options.historyIntervalMs });
  // Canary releases: fed by the invoke path, decides once per step (control path).
  // Several replicas on Kubernetes share one split: the Lease holder decides (`elector` is made below).
  const canaries = new CanaryController({ target: service, clock: options.canaryClock ?? clock, logger: logger.child({ component: 'canary' }), decides: () => elector?.leading ?? true });
  const secretService = new SecretService({ store: secrets, usedBy: (ns, name) => service.functionsUsingSecret(ns, name), logger: logger.child({ component: 'secrets' }) });
  const invoker = new Invoker({
    provider,
    lookup: (ref) => {
      const fn = service.lookup(ref);
      return fn && { timeoutSeconds: fn.spec.timeout, maxInflight: Number.isFinite(fn.scale.maxInflight) ? fn.scale.maxInflight : undefined, maxReplicas: fn.scale.max, ...(fn.routes ? { routes: fn.routes } : {}) };
    },
    // `metrics: false` (kss up --no-metrics) takes the Prometheus counters off the invoke path, for
    // measuring what they cost (npm run bench -- metrics); the status counters stay.
    observer:
      options.metrics === false
        ? stats
        : combineObservers(stats, canaries, byFunction(history), { started: (r) => metrics.started(r), finished: (r, s, t, c) => metrics.finished(r, s, t, c), coldStart: (r, w) => metrics.coldStart(r, w) }),
    logger,
    clock,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    maxColdWaiters: options.maxColdWaiters,
    activate: (ref) => autoscaler.activate(ref),
  });
  const autoscaler = new Autoscaler({
    provider,
    stats,
    // Each revision's deployment scales on its own.
    functions: () => service.deploymentSpecs(),
    logger: logger.child({ component: 'autoscaler' }),
    clock,
    tickMs: options.autoscaler?.tickMs,
    windows: options.autoscaler?.windows,
    onScale: (ref, from, to, reason) => {
      const { ref: fn, revision } = functionOf(ref);
      logs.append(fn, 'gateway', 'event', `autoscaler: ${from} → ${to} replica(s) (${reason})${revision ? `, revision ${revision}` : ''}`);
    },
  });
  service.useAutoscaler(autoscaler);
  const queue = await openQueue(options.queue, dataDir, logger);
  const metrics = new GatewayMetrics({
    provider,
    functions: () => service.specs(),
    queueDepth: () => queue.depth(),
    triggers: () => triggers.list(),
    costs: () => [...service.specs()].map((spec) => {
      const ref = { name: spec.service, namespace: spec.namespace };
      const s = service.counters(ref);
      return { ref, cost: costOf(spec, s.invocationCount, s.busySeconds) };
    }),
  });
  const dispatcher = new Dispatcher({
    queue,
    invoke: (call, abort) => runCall(invoker, call, abort),
    policy: (namespace, name) => {
      const fn = service.lookup({ namespace, name });
      return fn && { retry: retryPolicyOf(fn.spec), concurrency: queueConcurrencyOf(fn.spec), timeoutSeconds: fn.spec.timeout };
    },
    deliverCallback: (call) => deliverCallback(call),
    logger: logger.child({ component: 'queue' }),
    clock,
    globalConcurrency: options.queueConcurrency,
    onSettled: (call, outcome) => metrics.asyncSettled(call, outcome),
    maxTimeoutSeconds: () => Math.max(1, ...[...service.specs()].map((spec) => spec.timeout)),
    ...(options.random ? { random: options.random } : {}),
  });
  /** The invoke path's events, with each revision's deployment counted as its function (the dashboard's charts are per function). */
  function byFunction(o: InvokeObserver): InvokeObserver {
    return {
      started: (r) => o.started(functionOf(r).ref),
      finished: (r, st, t, c) => o.finished(functionOf(r).ref, st, t, c),
      coldStart: (r, w) => o.coldStart(functionOf(r).ref, w),
    };
  }
  const calls = new AsyncCalls({ queue, clock, onEnqueued: () => dispatcher.notify(), callbackAllow: options.callbackAllow });
  // Several replicas on Kubernetes: cron and MQTT triggers (every copy gets every event) run on the Lease holder only.
  const elector = kubeConfig
    ? new LeaderElector({ api: kubeConfig, namespace: options.gatewayNamespace ?? defaultGatewayNamespace(), clock, logger: logger.child({ component: 'leader-election' }), ...options.leaderElection })
    : undefined;
  const triggers = new TriggerManager({
    ...(elector ? { leader: elector } : {}),
    connectors: DEFAULT_CONNECTORS,
    lookup: (ref) => service.lookup(ref)?.spec,
    calls,
    queue,
    invoker,
    secrets,
    memory: new SqliteTriggerMemory(db),
    clock,
    logger: logger.child({ component: 'triggers' }),
    gatewayConnectors: options.connectors,
    onEvent: (ref, text) => logs.append(ref, 'gateway', 'event', text),
    onMessage: (ref, trigger, type, outcome) => metrics.triggerMessage(ref, trigger, type, outcome),
  });
  service.useTriggers(triggers);
  elector?.onStartedLeading(() => triggers.leadershipChanged());
  elector?.onStoppedLeading(() => triggers.leadershipChanged());
  service.onFunctionChanged((ref, change, detail) => {
    // Platform events go into the function's own log stream (`kss logs NAME`).
    if (detail) logs.append(ref, 'gateway', 'event', detail);
    if (change === 'scaled' || change === 'routed') return;
    limiter.reset(`fn:${ref.namespace}/${ref.name}|`);
    if (change === 'deployed') metrics.deployed(ref);
    else {
      metrics.forget(ref);
      history.forget(ref);
    }
  });
  const app = createGateway({
    service,
    provider,
    invoker,
    logger,
    clock,
    authenticator,
    tokens,
    sessions,
    audit,
    limiter,
    metrics,
    history,
    uiDir: options.uiDir,
    secrets: secretService,
    calls,
    logs,
    triggers,
    maxAsyncBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    clientRate: options.clientRate,
    maxCodeBytes,
    tls: options.tls,
    corsOrigins: options.corsOrigins,
    headersTimeoutMs: options.headersTimeoutMs,
  });

  const restored = await service.restore();
  // A store shared with other gateway replicas (Kubernetes): follow their changes too.
  const unfollow = service.followStore();
  if (restored.restored + restored.failed > 0) logger.info(restored, 'stored functions started');

  autoscaler.start();
  history.start();
  if (revisions) canaries.start();
  pool?.start();
  if (options.queueConcurrency !== 0) dispatcher.start();
  // First attempt before the triggers start: a lone replica leads at once, a second one starts in standby.
  await elector?.start();
  await triggers.startAll([...service.specs()].map((spec) => ({ name: spec.service, namespace: spec.namespace })));
  try {
    await app.listen({ port: options.port ?? 8080, host: options.host ?? '127.0.0.1' });
  } catch (err) {
    autoscaler.stop();
    history.stop();
    await triggers.close();
    await elector?.stop();
    await dispatcher.stop();
    await queue.close();
    await provider.close();
    store.close();
    kubeTokens?.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 8080);
  const host = options.host ?? '127.0.0.1';
  const url = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    app,
    service,
    provider,
    admin,
    tokens,
    secrets,
    queue,
    triggers,
    close: () =>
      (closing ??= (async () => {
        unfollow();
        autoscaler.stop();
        history.stop();
        canaries.stop();
        // Triggers first: no new events while the rest shuts down; their in-flight messages finish.
        await triggers.close();
        // Then the Lease is released, so another replica takes the triggers over at once.
        await elector?.stop();
        // Stop accepting; in-flight requests and running async calls get the grace period, then
        // the connections left are cut and the calls left go back to the queue (they run again).
        const grace = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
        const cut = setTimeout(() => app.server.closeAllConnections(), grace);
        await Promise.all([app.close().finally(() => clearTimeout(cut)), dispatcher.stop(grace)]);
        await queue.close();
        await invoker.close();
        await provider.close();
        logs.close();
        store.close();
        kubeTokens?.close();
      })()),
  };
}

/**
 * The replicas' sandbox: every host folder a runtime needs is read-only inside it (our
 * runtimes, the Python interpreter's installation); warns once, loudly, about what
 * this host cannot isolate.
 */
function sandboxFor(mode: SandboxMode, deps: { db: Parameters<typeof setUpSandbox>[0]['db']; dataDir: string; logger: Logger; secrets: SecretSource }): SandboxSetup {
  const readOnlyPaths = [dirname(dirname(NODE_COMMAND.args.at(-1)!)), dirname(dirname(PYTHON_RUNTIME_ENTRY))];
  const python = pythonInterpreter();
  if (isAbsolute(python)) {
    const prefix = dirname(dirname(realpathSync(python)));
    if (!prefix.startsWith('/usr')) readOnlyPaths.push(prefix);
  }
  const setup = setUpSandbox({ mode, db: deps.db, dataDir: deps.dataDir, logger: deps.logger.child({ component: 'sandbox' }), secrets: deps.secrets, readOnlyPaths });
  if (setup.gaps.length) {
    deps.logger.warn(
      { missing: setup.gaps },
      setup.sandbox?.isolating
        ? `replicas are isolated, but not fully: ${setup.gaps.join('; ')}. Run \`kss doctor\`.`
        : `REPLICAS ARE NOT ISOLATED: functions run as plain processes with the gateway's user and can read its data dir. Missing: ${setup.gaps.join('; ')}. Run \`kss doctor\` to see what to install.`,
    );
  }
  return setup;
}

/** The async-call queue named by `--queue`: the embedded SQLite file, or JetStream at a NATS URL. */
async function openQueue(spec: string | undefined, dataDir: string, logger: Logger): Promise<CallQueue> {
  if (spec === undefined || spec === '' || spec === 'sqlite') return openSqliteQueue({ file: join(dataDir, 'queue.db') });
  if (/^(nats|tls):\/\//.test(spec)) {
    // nats://host:4222/PREFIX names the bucket (`PREFIX-calls`): gateways sharing a queue use the same one.
    const url = new URL(spec.split(',')[0]!);
    const prefix = url.pathname.replace(/^\/+|\/+$/g, '') || undefined;
    const servers = spec.split(',').map((s) => s.replace(/^((?:nats|tls):\/\/[^/]+)\/.*$/, '$1'));
    return openJetStreamQueue({ servers, ...(prefix ? { prefix } : {}), logger: logger.child({ component: 'queue' }) });
  }
  throw new KssError('KSS_BAD_REQUEST', `--queue: "${spec}" is neither sqlite nor a nats:// URL`);
}

