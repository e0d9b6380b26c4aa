/**
 * The Kubernetes provider against the in-process fake API server (no cluster runs
 * here): the shared provider contract, with a simulated kubelet starting each pod
 * as a real Node runtime process (test/kube-pod-runner.ts), then the reconciler
 * under faults — 500s and 409s from the API server, dropped watches, objects deleted
 * by hand — converging to the desired objects; and the Function store.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { packDirectory } from '../src/archive/index.js';
import { BuildService, DEFAULT_BUILDERS } from '../src/build/index.js';
import { FakeClock, KssError, parseFunctionSpec, systemClock, type FunctionSpec } from '../src/core/index.js';
import { KubernetesProvider } from '../src/providers/kubernetes/index.js';
import { createCodeStore } from '../src/store/index.js';
import { KubernetesFunctionStore } from '../src/store/kubernetes-store.js';
import { simulateWorkloads, startFakeKubeApi, type FakeKubeApi } from './fake-kube-api/index.js';
import { eventually, tempDir, writeFunction } from './helpers.js';
import { runPod } from './kube-pod-runner.js';
import { builtNodeFunction, providerContract, type ProviderHarness } from './provider-contract.js';

interface KubeHarness extends ProviderHarness {
  api: FakeKubeApi;
  kubeConfig: KubeConfig;
  provider: KubernetesProvider;
  /** Uploads and builds a node function made of `files` (binary ones too). */
  nodeFiles(name: string, files: Record<string, string | Buffer>): Promise<FunctionSpec>;
}

async function kubeHarness(resyncMs = 60_000): Promise<KubeHarness> {
  const api = await startFakeKubeApi();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions(api.kubeConfigOptions());
  const dir = tempDir('kss-kube-');
  const logger = pino({ level: 'silent' });
  const code = createCodeStore({ dir: join(dir, 'code') });
  const builds = new BuildService({ dir: join(dir, 'builds'), code, builders: DEFAULT_BUILDERS, logger });
  const sim = simulateWorkloads(api, { startReplica: (pod) => runPod(api, pod), restartBackoffMs: 100 });
  const provider = new KubernetesProvider({
    kubeConfig,
    logger,
    namespaces: ['openfaas-fn'],
    resyncMs,
    artifactArchive: async (spec) => {
      const artifact = builds.artifact(spec);
      return { archive: await packDirectory(artifact.dir), ...(artifact.handler ? { handler: artifact.handler } : {}) };
    },
  });
  await provider.ready();
  return {
    api,
    kubeConfig,
    provider,
    nodeFunction: builtNodeFunction(code, builds),
    async nodeFiles(name, files) {
      const src = writeFunction(files);
      try {
        const { digest } = await code.put(await packDirectory(src));
        const spec = parseFunctionSpec({ service: name, runtime: 'node', code: digest });
        await builds.ensureBuilt(spec);
        return spec;
      } finally {
        rmSync(src, { recursive: true, force: true });
      }
    },
    async close() {
      await provider.close();
      await sim.stop();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

providerContract('kubernetes (fake API server, simulated kubelet)', () => kubeHarness());

const kinds = (api: FakeKubeApi, name: string) =>
  ['functions', 'deployments', 'services', 'configmaps']
    .filter((r) => api.get(r, 'openfaas-fn', r === 'configmaps' ? `${name}-code` : name))
    .sort();

describe('kubernetes reconciler', () => {
  let h: KubeHarness;
  before(async () => {
    h = await kubeHarness(300);
  });
  after(async () => {
    await h?.close();
  });

  test('deploy applies the Function and, owned by it, the code ConfigMap, Deployment and Service', async () => {
    const spec = await h.nodeFunction('owned', 'export default () => "owned"');
    await h.provider.deploy(spec);
    assert.deepEqual(kinds(h.api, 'owned'), ['configmaps', 'deployments', 'functions', 'services']);
    const fn = h.api.get('functions', 'openfaas-fn', 'owned')!;
    for (const r of ['deployments', 'services', 'configmaps']) {
      const obj = h.api.get(r, 'openfaas-fn', r === 'configmaps' ? 'owned-code' : 'owned') as unknown as { metadata: { ownerReferences?: Array<{ uid: string; controller?: boolean }> } };
      assert.equal(obj.metadata.ownerReferences?.[0]?.uid, fn.metadata.uid, `${r} is owned by the Function`);
    }
    const applies = h.api.requests.filter((r) => r.method === 'PATCH' && r.contentType?.startsWith('application/apply-patch'));
    assert.ok(applies.length >= 4, 'written with server-side apply');
    await eventually(() => h.provider.resolve({ name: 'owned', namespace: 'openfaas-fn' }).length === 1, 20_000, 'ready');
    // Deleting the Function by hand: the collector removes what the old one owned, and the
    // resync (this gateway still has the function) applies it again, owned by the new one.
    h.api.delete('functions', 'openfaas-fn', 'owned');
    await eventually(() => {
      const again = h.api.get('functions', 'openfaas-fn', 'owned');
      const d = h.api.get('deployments', 'openfaas-fn', 'owned') as unknown as { metadata: { ownerReferences?: Array<{ uid: string }> } } | undefined;
      return again !== undefined && again.metadata.uid !== fn.metadata.uid && d?.metadata.ownerReferences?.[0]?.uid === again.metadata.uid;
    }, 10_000, 'objects owned by the re-applied Function');
    await h.provider.remove({ name: 'owned', namespace: 'openfaas-fn' });
    assert.deepEqual(kinds(h.api, 'owned'), [], 'remove deletes the Function and everything it owned');
  });

  test('the Function status says how many replicas serve, with a Ready condition', async () => {
    const spec = await h.nodeFunction('reported', 'export default () => "r"');
    await h.provider.deploy(spec);
    const ref = { name: 'reported', namespace: 'openfaas-fn' };
    type Fn = { metadata: { generation?: number }; status?: { replicas?: number; availableReplicas?: number; observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason?: string }> } };
    const fn = () => h.api.get('functions', 'openfaas-fn', 'reported') as unknown as Fn;
    // Status is written by a watch-driven best-effort patch racing the resync's apply: read it once settled.
    await eventually(() => fn().status?.availableReplicas === 1 && fn().status?.replicas === 1, 20_000, 'status: 1 of 1 available');
    const ready = fn().status!;
    assert.equal(ready.replicas, 1);
    assert.equal(ready.observedGeneration, fn().metadata.generation);
    assert.deepEqual(ready.conditions?.map((c) => [c.type, c.status, c.reason]), [['Ready', 'True', 'AllReplicasReady']]);
    await h.provider.scale(ref, 0);
    await eventually(() => fn().status?.conditions?.[0]?.reason === 'ScaledToZero' && fn().status?.replicas === 0, 20_000, 'status: scaled to zero');
    await h.provider.remove(ref);
  });

  test('with kss.scaling: cpu an HPA owns the count above zero; the scaler only takes it to zero and back', async () => {
    const spec = await h.nodeFunction('cpu-scaled', 'export default () => "cpu"', { annotations: { 'kss.scaling': 'cpu' }, requests: { cpu: '100m' }, labels: { 'com.openfaas.scale.max': '5' } });
    await h.provider.deploy(spec);
    const ref = { name: 'cpu-scaled', namespace: 'openfaas-fn' };
    const hpa = h.api.get('horizontalpodautoscalers', 'openfaas-fn', 'cpu-scaled') as unknown as { spec: { minReplicas: number; maxReplicas: number } } | undefined;
    assert.ok(hpa, 'an HPA');
    assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [1, 5]);
    await eventually(() => h.provider.resolve(ref).length === 1, 20_000, 'ready');
    const replicas = () => (h.api.get('deployments', 'openfaas-fn', 'cpu-scaled') as unknown as { spec: { replicas?: number } }).spec.replicas;
    const before = replicas();
    await h.provider.scale(ref, 3);
    assert.equal(replicas(), before, 'the scaler leaves the count to the HPA');
    await h.provider.scale(ref, 0);
    assert.equal(replicas(), 0, 'to zero: the scaler');
    await h.provider.remove(ref);
  });

  test('a 500 from the API server fails the deploy with a catalogue error; the resync converges', async () => {
    const spec = await h.nodeFunction('flaky', 'export default () => "flaky"');
    h.api.faults.next({ method: 'PATCH', pathIncludes: '/deployments/', status: 500, times: 1 });
    await assert.rejects(h.provider.deploy(spec), (err: KssError) => err.code === 'KSS_PROVIDER_UNAVAILABLE' && /500/.test(err.message));
    await eventually(() => kinds(h.api, 'flaky').includes('deployments'), 10_000, 'the resync applied the Deployment');
    await eventually(() => h.provider.resolve({ name: 'flaky', namespace: 'openfaas-fn' }).length === 1, 20_000, 'ready after the resync');
    await h.provider.remove({ name: 'flaky', namespace: 'openfaas-fn' });
  });

  test('409 conflicts are retried by the next resync until the objects match', async () => {
    const spec = await h.nodeFunction('conflicted', 'export default () => "c"');
    h.api.faults.next({ method: 'PATCH', pathIncludes: '/services/', status: 409, times: 3 });
    await h.provider.deploy(spec).catch(() => {});
    await eventually(() => kinds(h.api, 'conflicted').includes('services'), 15_000, 'the Service exists after the conflicts');
    assert.equal(h.api.faults.pending().length, 0, 'every injected conflict was met');
    await h.provider.remove({ name: 'conflicted', namespace: 'openfaas-fn' });
  });

  test('a Deployment deleted by hand is put back by the resync', async () => {
    const spec = await h.nodeFunction('repaired', 'export default () => "r"');
    await h.provider.deploy(spec);
    const first = h.api.get('deployments', 'openfaas-fn', 'repaired')!.metadata.uid;
    h.api.delete('deployments', 'openfaas-fn', 'repaired');
    await eventually(() => {
      const d = h.api.get('deployments', 'openfaas-fn', 'repaired');
      return d !== undefined && d.metadata.uid !== first;
    }, 10_000, 'a new Deployment');
    await eventually(() => h.provider.resolve({ name: 'repaired', namespace: 'openfaas-fn' }).length === 1, 20_000, 'ready again');
    await h.provider.remove({ name: 'repaired', namespace: 'openfaas-fn' });
  });

  test('after the watches drop, replica changes still reach resolve()', async () => {
    const spec = await h.nodeFunction('rewatched', 'export default () => "w"');
    await h.provider.deploy(spec);
    const ref = { name: 'rewatched', namespace: 'openfaas-fn' };
    await eventually(() => h.provider.resolve(ref).length === 1, 20_000, 'ready');
    assert.ok(h.api.dropWatches({ abrupt: true }) > 0, 'watches were open');
    await h.provider.scale(ref, 2);
    await eventually(() => h.provider.resolve(ref).length === 2, 20_000, 'two endpoints seen through the new watches');
    await h.provider.remove(ref);
  });

  test('an update rolls the pods (the spec hash changes) and keeps the replica count', async () => {
    const v1 = await h.nodeFunction('rolled', 'export default () => "1"');
    await h.provider.deploy(v1);
    const ref = { name: 'rolled', namespace: 'openfaas-fn' };
    await h.provider.scale(ref, 2);
    await eventually(() => h.provider.resolve(ref).length === 2, 20_000, 'two ready');
    const v2: FunctionSpec = { ...(await h.nodeFunction('rolled', 'export default () => "2"')), envVars: { MODE: 'two' } };
    await h.provider.update(v2);
    const d = h.api.get('deployments', 'openfaas-fn', 'rolled') as unknown as { spec: { replicas: number; template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }> }> } } } };
    assert.equal(d.spec.replicas, 2, 'the update kept the scaled replica count');
    assert.ok(d.spec.template.spec.containers[0]!.env.some((e) => e.name === 'MODE' && e.value === 'two'));
    await eventually(async () => {
      const eps = h.provider.resolve(ref);
      if (eps.length !== 2) return false;
      // An old pod can stop between resolve() and the fetch (the roll is still going): not there yet.
      const bodies = await Promise.all(eps.map(async (e) => fetch(`${e.origin}/`).then((r) => r.text(), () => 'unreachable')));
      return bodies.every((b) => b === '2');
    }, 30_000, 'both replicas serve v2');
    await h.provider.remove(ref);
  });
});

describe('kubernetes code in ConfigMap parts', () => {
  let h: KubeHarness;
  before(async () => {
    h = await kubeHarness();
  });
  after(async () => {
    await h?.close();
  });

  type Cm = { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: Array<{ uid: string }> }; binaryData?: Record<string, string> };
  const codeMaps = (name: string) =>
    h.api
      .objects('configmaps')
      .map((o) => o as unknown as Cm & { metadata: { namespace?: string } })
      .filter((c) => c.metadata.namespace === 'openfaas-fn' && c.metadata.labels?.['serverless.kube.io/function'] === name)
      .map((c) => c.metadata.name)
      .sort();
  const handler = `import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
const data = readFileSync(new URL('./data.bin', import.meta.url));
export default () => createHash('sha256').update(data).digest('hex') + ' ' + data.length;
`;

  test('built code over 2 MiB ships in parts, serves through the simulated kubelet, and a smaller update or a remove leaves no part behind', async () => {
    const ref = { name: 'big', namespace: 'openfaas-fn' };
    // Random bytes: gzip cannot shrink them, so the built archive is > 2.5 MiB.
    const data = randomBytes(2.5 * 1024 * 1024);
    const v1 = await h.nodeFiles('big', { 'handler.js': handler, 'data.bin': data });
    await h.provider.deploy(v1);
    const names = codeMaps('big');
    assert.deepEqual(names, ['big-code', 'big-code-1', 'big-code-2'], '2.5 MiB in 900 KiB parts');
    const fn = h.api.get('functions', 'openfaas-fn', 'big')!;
    const parts = names.map((n) => h.api.get('configmaps', 'openfaas-fn', n) as unknown as Cm);
    assert.equal(parts[0]!.metadata.labels!['serverless.kube.io/code-parts'], '3');
    let total = 0;
    for (const [i, cm] of parts.entries()) {
      const key = `code.tar.gz.part-00${i}`;
      assert.deepEqual(Object.keys(cm.binaryData ?? {}), [key]);
      const bytes = Buffer.from(cm.binaryData![key]!, 'base64').length;
      assert.ok(bytes <= 900 * 1024, `${cm.metadata.name}: ${bytes} bytes`);
      total += bytes;
      assert.equal(cm.metadata.ownerReferences?.[0]?.uid, fn.metadata.uid, `${cm.metadata.name} is owned by the Function`);
      assert.equal(cm.metadata.annotations?.['serverless.kube.io/code'], v1.code, `${cm.metadata.name} names the code it carries`);
    }
    assert.ok(total > 2.5 * 1024 * 1024, `${total} bytes in all`);
    type Dep = { spec: { template: { spec: { volumes: Array<{ name: string; projected?: { sources: Array<{ configMap: { name: string } }> } }>; containers: Array<{ env: Array<{ name: string; value: string }> }> } } } };
    const dep = () => h.api.get('deployments', 'openfaas-fn', 'big') as unknown as Dep;
    const vol = dep().spec.template.spec.volumes.find((v) => v.name === 'code-archive')!;
    assert.deepEqual(vol.projected!.sources.map((s) => s.configMap.name), names);
    const env = Object.fromEntries(dep().spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    assert.equal(env.KSS_CODE_PARTS_DIR, '/var/kss/code');
    assert.equal(env.KSS_CODE_PARTS, '3');

    // The pod unpacked all three parts: the handler reads the data and hashes it.
    await eventually(() => h.provider.resolve(ref).length === 1, 30_000, 'ready');
    const expected = `${createHash('sha256').update(data).digest('hex')} ${data.length}`;
    assert.equal(await (await fetch(`${h.provider.resolve(ref)[0]!.origin}/`)).text(), expected);

    // Another gateway replica, without this build, reuses the parts in the cluster (all of them verified).
    const other = new KubernetesProvider({
      kubeConfig: h.kubeConfig,
      logger: pino({ level: 'silent' }),
      namespaces: ['openfaas-fn'],
      resyncMs: 600_000,
      artifactArchive: async () => {
        throw new KssError('KSS_BUILD_FAILED', 'not built on this replica');
      },
    });
    try {
      await other.deploy(v1);
      assert.deepEqual(dep().spec.template.spec.volumes.find((v) => v.name === 'code-archive')!.projected!.sources.map((s) => s.configMap.name), names);
      // A part missing: not reusable, so it says the code is not available rather than start pods that cannot mount it.
      h.api.delete('configmaps', 'openfaas-fn', 'big-code-2');
      await assert.rejects(other.deploy(v1), (err: KssError) => err.code === 'KSS_BUILD_FAILED');
    } finally {
      await other.close();
    }

    // A smaller version: one part, the extra ones deleted (big-code-2 already gone: a 404 is fine).
    const v2 = await h.nodeFiles('big', { 'handler.js': 'export default () => "small";\n' });
    await h.provider.update(v2);
    assert.deepEqual(codeMaps('big'), ['big-code']);
    assert.equal((h.api.get('configmaps', 'openfaas-fn', 'big-code') as unknown as Cm).metadata.labels!['serverless.kube.io/code-parts'], '1');
    assert.deepEqual(dep().spec.template.spec.volumes.find((v) => v.name === 'code-archive')!.projected!.sources.map((s) => s.configMap.name), ['big-code']);
    await eventually(async () => {
      const eps = h.provider.resolve(ref);
      // A replica of the old version may be stopping as this asks: not an answer yet.
      const body = eps.length === 1 ? await fetch(`${eps[0]!.origin}/`).then((r) => r.text(), () => '') : '';
      return body === 'small';
    }, 30_000, 'the replica serves the small version');

    // Big again, then removed: no part lingers.
    await h.provider.update(v1);
    assert.deepEqual(codeMaps('big'), ['big-code', 'big-code-1', 'big-code-2']);
    await h.provider.remove(ref);
    assert.deepEqual(codeMaps('big'), [], 'remove deletes every part');
    assert.equal(h.api.get('deployments', 'openfaas-fn', 'big'), undefined);
  });
});

describe('kubernetes function store', () => {
  let api: FakeKubeApi;
  let store: KubernetesFunctionStore;
  const clock = new FakeClock();
  before(async () => {
    api = await startFakeKubeApi();
    const kc = new KubeConfig();
    kc.loadFromOptions(api.kubeConfigOptions());
    store = new KubernetesFunctionStore({ kubeConfig: kc, clock, namespaces: ['openfaas-fn'] });
  });
  after(async () => {
    await api.close();
  });

  const spec = (over: Record<string, unknown> = {}) => parseFunctionSpec({ service: 'stored', runtime: 'node', code: `sha256:${'a'.repeat(64)}`, envVars: { A: '1' }, ...over });

  test('create, get, list, update and delete go through Function resources', async () => {
    const created = await store.create(spec());
    assert.equal(created.spec.service, 'stored');
    assert.ok(api.get('functions', 'openfaas-fn', 'stored'), 'a Function resource');
    await assert.rejects(store.create(spec()), (err: KssError) => err.code === 'KSS_FUNCTION_EXISTS');
    assert.deepEqual((await store.get({ name: 'stored', namespace: 'openfaas-fn' }))?.spec.envVars, { A: '1' });
    clock.advance(60_000);
    const updated = await store.update(spec({ envVars: { A: '2' } }));
    assert.deepEqual(updated.spec.envVars, { A: '2' });
    assert.ok(updated.updatedAt > created.updatedAt, 'updatedAt moves');
    assert.deepEqual((await store.list()).map((f) => f.spec.service), ['stored']);
    assert.deepEqual(await store.namespaces(), ['openfaas-fn']);
    assert.equal(await store.delete({ name: 'stored', namespace: 'openfaas-fn' }), true);
    assert.equal(await store.delete({ name: 'stored', namespace: 'openfaas-fn' }), false);
    await assert.rejects(store.update(spec()), (err: KssError) => err.code === 'KSS_FUNCTION_NOT_FOUND');
  });

  test('a conflicting write (another gateway) is retried on a fresh read', async () => {
    await store.create(spec({ service: 'raced' }));
    api.faults.next({ method: 'PUT', pathIncludes: '/functions/raced', status: 409, times: 2 });
    const updated = await store.update(spec({ service: 'raced', envVars: { A: 'won' } }));
    assert.deepEqual(updated.spec.envVars, { A: 'won' });
    await store.delete({ name: 'raced', namespace: 'openfaas-fn' });
  });

  test('an unreachable API server is KSS_PROVIDER_UNAVAILABLE, never a crash', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({ ...api.kubeConfigOptions(), clusters: [{ name: 'gone', server: 'http://127.0.0.1:9', skipTLSVerify: true }], contexts: [{ name: 'gone', cluster: 'gone', user: api.kubeConfigOptions().users[0]!.name }], currentContext: 'gone' });
    const dead = new KubernetesFunctionStore({ kubeConfig: kc, clock: systemClock, namespaces: ['openfaas-fn'] });
    await assert.rejects(dead.list(), (err: KssError) => err.code === 'KSS_PROVIDER_UNAVAILABLE');
  });
});
