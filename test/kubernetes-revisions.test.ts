/**
 * Revisions on the Kubernetes provider (issue #12), against the fake API server and its
 * simulated kubelet (no cluster runs here): the same contract as on one machine
 * (test/revisions-contract.ts), then what only a cluster has — each revision a
 * ControllerRevision owned by the Function, the split in the Function's annotation and
 * status, several gateway replicas sharing one split, a gateway with an empty data dir
 * rolling back from the code the cluster kept, `kubectl delete function` taking every
 * revision with it, and a function from before revisions upgraded in place.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { simulateWorkloads, startFakeKubeApi, writeKubeconfigFile, type FakeKubeApi } from './fake-kube-api/index.js';
import { deployFunction, eventually, startTestPlatform, writeFunction, type TestPlatform } from './helpers.js';
import { runPod } from './kube-pod-runner.js';
import { revisionsContract, versioned } from './revisions-contract.js';
import { crdValidator, validateObject, type KubeObject } from './kubernetes-validate.js';
import { functionSchema } from '../src/providers/kubernetes/crd.js';
import { KubernetesProvider } from '../src/providers/kubernetes/index.js';
import { KubernetesFunctionStore } from '../src/store/kubernetes-store.js';
import { packDirectory } from '../src/archive/index.js';
import { parseFunctionSpec, systemClock } from '../src/core/index.js';

const NS = 'openfaas-fn';

async function fakeCluster(): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi();
  simulateWorkloads(api, { startReplica: (pod) => runPod(api, pod), restartBackoffMs: 100 });
  return api;
}

/** The contract's clusters (one per platform it starts), closed at its end. */
const contractClusters: FakeKubeApi[] = [];
revisionsContract({
  label: 'the Kubernetes provider (fake API server)',
  start: async (options) => {
    const api = await fakeCluster();
    contractClusters.push(api);
    return startTestPlatform({ provider: 'kubernetes', kubeconfig: writeKubeconfigFile(api), resyncMs: 1000, ...options });
  },
  cleanup: async () => {
    for (const api of contractClusters.splice(0)) await api.close();
  },
});

describe('revisions on Kubernetes: the cluster holds them', () => {
  let api: FakeKubeApi;
  let p: TestPlatform;
  const validator = crdValidator(functionSchema());

  before(async () => {
    api = await fakeCluster();
    p = await startTestPlatform({ provider: 'kubernetes', kubeconfig: writeKubeconfigFile(api), resyncMs: 1000, readyWaitMs: 20_000 });
  });
  after(async () => {
    await p?.close();
    await api?.close();
  });

  const call = async (gateway: TestPlatform, path: string) => {
    const res = await fetch(`${gateway.url}${path}`);
    return { status: res.status, revision: res.headers.get('x-kss-revision'), text: await res.text() };
  };
  const fn = () => api.get('functions', NS, 'kr') as KubeObject & { status?: Record<string, unknown>; metadata: { uid: string; annotations: Record<string, string> } };

  test('each revision is a ControllerRevision owned by the Function; the split is its annotation and status', async () => {
    await deployFunction(p.client, 'kr', { 'handler.js': versioned('one') });
    await deployFunction(p.client, 'kr', { 'handler.js': versioned('two') });
    const revs = api.objects('controllerrevisions').filter((o) => o.metadata?.labels?.['serverless.kube.io/revision-of'] === 'kr') as Array<KubeObject & { revision: number; data: { spec: { runtime: string; code: string } } }>;
    assert.deepEqual(revs.map((r) => r.metadata!.name).sort(), ['kr--r1', 'kr--r2']);
    for (const r of revs) {
      validateObject(r);
      const owners = r.metadata!.ownerReferences as Array<{ kind: string; name: string; uid: string }>;
      assert.deepEqual(owners.map((o) => [o.kind, o.name, o.uid]), [['Function', 'kr', fn().metadata.uid]]);
      assert.equal(r.data.spec.runtime, 'node');
      assert.match(r.data.spec.code, /^sha256:/);
      assert.equal(r.metadata!.annotations!['serverless.kube.io/created-by'], 'admin');
    }
    assert.deepEqual(revs.map((r) => r.revision).sort(), [1, 2]);
    await eventually(() => (fn().status?.split as string | undefined) === 'r2=100%' && fn().status?.latestRevision === 'r2', 10_000, 'the split in the Function status');
    validateObject(fn(), validator);
    assert.deepEqual(JSON.parse(fn().metadata.annotations['serverless.kube.io/traffic']), { traffic: [{ revision: 'r2', percent: 100 }], canary: null });
    assert.deepEqual(fn().status!.traffic, [{ revision: 'r2', percent: 100 }]);
    // Each revision its own Deployment; r1 stops once it left the split, but its code stays for a rollback.
    await eventually(() => !api.get('deployments', NS, 'kr--r1') && !!api.get('deployments', NS, 'kr--r2'), 15_000, 'r1 retired');
    assert.ok(api.get('configmaps', NS, 'kr--r1-code'), 'the retired revision keeps its code');
    const pods = api.objects('pods').filter((o) => o.metadata?.labels?.['serverless.kube.io/revision-of'] === 'kr');
    assert.ok(pods.length >= 1);
    for (const pod of pods) {
      assert.equal(pod.metadata!.labels!.faas_function, 'kr', 'OpenFaaS tooling groups by the function');
      const env = ((pod.spec as { containers: Array<{ env: Array<{ name: string; value?: string }> }> }).containers[0]!.env ?? []).filter((e) => e.name === 'KSS_FUNCTION_NAME' || e.name === 'KSS_REVISION');
      assert.deepEqual(Object.fromEntries(env.map((e) => [e.name, e.value])), { KSS_FUNCTION_NAME: 'kr', KSS_REVISION: pod.metadata!.labels!['serverless.kube.io/revision'] });
    }
    await eventually(() => (fn().status?.revisions as Array<{ revision: string; availableReplicas: number }> | undefined)?.map((r) => `${r.revision}:${r.availableReplicas}`).join() === 'r2:1', 10_000, 'the running revisions in the status');
    // `kss logs` reads the pods of every revision.
    const logs = await p.api('/system/logs?name=kr&tail=10');
    assert.equal(logs.status, 200);
  });

  test('a second gateway with an empty data dir follows the split, and rolls back from the code the cluster kept', async () => {
    const second = await startTestPlatform({ provider: 'kubernetes', kubeconfig: writeKubeconfigFile(api), resyncMs: 1000, readyWaitMs: 20_000 });
    try {
      const view = (await (await second.api('/api/v1/functions/kr/revisions')).json()) as { traffic: unknown; revisions: { revision: string }[] };
      assert.deepEqual(view.traffic, [{ revision: 'r2', percent: 100 }]);
      assert.deepEqual(view.revisions.map((r) => r.revision), ['r2', 'r1']);
      // The second gateway never built r1: it starts from the ConfigMaps r1 kept.
      const res = await second.api('/api/v1/functions/kr/rollback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 200, await res.clone().text());
      await eventually(async () => (await call(second, '/function/kr')).text === 'one', 20_000, 'the second gateway serving r1');
      // The first one follows the split the second one wrote.
      await eventually(async () => {
        const r = await call(p, '/function/kr');
        return r.status === 200 && r.revision === 'r1' && r.text === 'one';
      }, 20_000, 'the first gateway following the rollback');
      assert.equal(fn().status?.split, 'r1=100%');
      const logs = await (await p.api('/system/logs?name=kr&tail=50')).text();
      assert.match(logs, /traffic r1=100% \(set by another gateway\)/);
    } finally {
      await second.close();
    }
  });

  test('a name too long for a revision\'s Service is refused with a 400 before anything is written', async () => {
    const name = `long-${'x'.repeat(55)}`;
    const res = await p.api('/api/v1/functions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: name, runtime: 'exec', envProcess: 'cat' }) });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'KSS_INVALID_NAME');
    assert.match(body.message, /at most 59 characters/);
    assert.equal(api.get('functions', NS, name), undefined);
    assert.ok(!api.objects('controllerrevisions').some((o) => o.metadata?.name?.startsWith('long-')));
  });

  test('kubectl delete function takes every revision with it; both the objects and the gateway forget it', async () => {
    api.delete('functions', NS, 'kr');
    await eventually(
      () => api.objects('controllerrevisions').length === 0 && !api.objects('deployments').some((d) => d.metadata?.name?.startsWith('kr--')) && !api.objects('configmaps').some((c) => c.metadata?.name?.startsWith('kr--')),
      10_000,
      'the revisions, Deployments and code garbage-collected',
    );
    await eventually(async () => (await fetch(`${p.url}/function/kr`)).status === 404, 10_000, 'the gateway forgetting it');
  });

  test('a function deployed before revisions becomes r1 on upgrade, from the code the cluster holds, and its old Deployment goes', async () => {
    // What an earlier gateway left: the Function (stored) and a plain Deployment `legacy` with its code.
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions(api.kubeConfigOptions(NS));
    const archive = await packDirectory(writeFunction({ 'handler.js': versioned('legacy') }));
    const digest = (await p.client.uploadCode(archive)).digest;
    const spec = parseFunctionSpec({ service: 'legacy', namespace: NS, runtime: 'node', code: digest });
    const old = new KubernetesProvider({ kubeConfig, logger: pino({ level: 'silent' }), namespaces: [NS], artifactArchive: async () => ({ archive, handler: 'handler.js' }), resyncMs: 3_600_000 });
    const store = new KubernetesFunctionStore({ kubeConfig, clock: systemClock, namespaces: [NS] });
    try {
      await old.deploy(spec);
      await store.create(spec);
      await eventually(() => old.resolve({ name: 'legacy', namespace: NS }).length > 0, 15_000, 'the old deployment ready');
    } finally {
      await old.close();
      store.close();
    }
    // A new gateway, empty data dir: the stored function has no split yet.
    const upgraded = await startTestPlatform({ provider: 'kubernetes', kubeconfig: writeKubeconfigFile(api), resyncMs: 1000 });
    try {
      await upgraded.client.waitReady('legacy', { timeoutMs: 20_000 });
      const r = await call(upgraded, '/function/legacy');
      assert.deepEqual([r.status, r.revision, r.text], [200, 'r1', 'legacy']);
      const view = (await (await upgraded.api('/api/v1/functions/legacy/revisions')).json()) as { revisions: { revision: string; createdBy: string }[] };
      assert.deepEqual(view.revisions.map((x) => [x.revision, x.createdBy]), [['r1', 'upgrade']]);
      await eventually(() => !api.get('deployments', NS, 'legacy') && !api.get('configmaps', NS, 'legacy-code') && !!api.get('configmaps', NS, 'legacy--r1-code'), 10_000, 'the deployment from before revisions retired');
    } finally {
      await upgraded.close();
    }
  });
});
