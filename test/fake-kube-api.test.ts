/**
 * The fake Kubernetes API server, driven through the real @kubernetes/client-node client.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  Log,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { simulateWorkloads, startFakeKubeApi, type FakeKubeApi } from './fake-kube-api/index.js';

const NS = 'functions';

function clientFor(api: FakeKubeApi): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeConfigOptions(NS));
  return kc;
}

async function expectCode(promise: Promise<unknown>, code: number): Promise<ApiException<unknown>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiException, `expected ApiException, got ${String(error)}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected HTTP ${code}`);
}

async function waitFor<T>(fn: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value) return value;
    if (Date.now() > deadline) assert.fail('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('fake kube api', () => {
  let api: FakeKubeApi;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  before(async () => {
    api = await startFakeKubeApi({ historySize: 20 });
    kc = clientFor(api);
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
  });
  after(() => api.close());

  it('creates, gets, lists with selectors; 404 and 409 are Status objects', async () => {
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'a', labels: { app: 'x', tier: 'web' } }, data: { k: 'v' } } });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'b', labels: { app: 'y' } } } });
    const got = await core.readNamespacedConfigMap({ namespace: NS, name: 'a' });
    assert.equal(got.data?.k, 'v');
    assert.ok(got.metadata?.uid && got.metadata.resourceVersion && got.metadata.creationTimestamp);
    const list = await core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'app=x,tier' });
    assert.deepEqual(list.items.map((i) => i.metadata?.name), ['a']);
    assert.ok(Number(list.metadata?.resourceVersion) >= 2);
    const byName = await core.listNamespacedConfigMap({ namespace: NS, fieldSelector: 'metadata.name=b' });
    assert.deepEqual(byName.items.map((i) => i.metadata?.name), ['b']);
    const missing = await expectCode(core.readNamespacedConfigMap({ namespace: NS, name: 'nope' }), 404);
    const status = JSON.parse(String(missing.body));
    assert.equal(status.kind, 'Status');
    assert.equal(status.reason, 'NotFound');
    const dup = await expectCode(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'a' } } }), 409);
    assert.equal(JSON.parse(String(dup.body)).reason, 'AlreadyExists');
  });

  it('server-side apply creates then merges; merge patch; stale replace conflicts', async () => {
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const spec = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'fn', namespace: NS, labels: { a: '1' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'fn' } },
        template: {
          metadata: { labels: { app: 'fn' } },
          spec: { containers: [{ name: 'main', image: 'img:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }] },
        },
      },
    };
    const created = (await objects.patch(spec, undefined, undefined, 'kss', true, PatchStrategy.ServerSideApply)) as KubernetesObject;
    assert.equal(created.metadata?.generation, 1);
    // another manager adds a label; the applier drops env B and changes the image
    await apps.patchNamespacedDeployment(
      { namespace: NS, name: 'fn', body: { metadata: { labels: { other: 'yes' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const next = structuredClone(spec);
    next.spec.template.spec.containers[0].image = 'img:2';
    next.spec.template.spec.containers[0].env = [{ name: 'A', value: '1' }];
    const updated = (await objects.patch(next, undefined, undefined, 'kss', true, PatchStrategy.ServerSideApply)) as KubernetesObject & {
      spec: { template: { spec: { containers: Array<{ image: string; env: unknown[] }> } } };
    };
    assert.equal(updated.metadata?.labels?.other, 'yes');
    assert.equal(updated.spec.template.spec.containers[0].image, 'img:2');
    assert.deepEqual(JSON.parse(JSON.stringify(updated.spec.template.spec.containers[0].env)), [{ name: 'A', value: '1' }]);
    assert.equal(updated.metadata?.generation, 2); // the label-only patch did not bump it
    assert.equal(api.requests.filter((r) => r.contentType === 'application/apply-patch+yaml').length, 2);
    // re-applying the same config is a no-op (same resourceVersion)
    const again = (await objects.patch(next, undefined, undefined, 'kss', true, PatchStrategy.ServerSideApply)) as KubernetesObject;
    assert.equal(again.metadata?.resourceVersion, updated.metadata?.resourceVersion);

    const stale = await apps.readNamespacedDeployment({ namespace: NS, name: 'fn' });
    await apps.patchNamespacedDeployment({ namespace: NS, name: 'fn', body: [{ op: 'replace', path: '/spec/replicas', value: 3 }] });
    await expectCode(apps.replaceNamespacedDeployment({ namespace: NS, name: 'fn', body: stale }), 409);
  });

  it('status subresource: main writes ignore status, /status writes only status', async () => {
    const objects = KubernetesObjectApi.makeApiClient(kc);
    await objects.patch(
      { apiVersion: 'serverless.kube.io/v1', kind: 'Function', metadata: { name: 'echo', namespace: NS }, spec: { image: 'x' }, status: { ready: true } } as KubernetesObject,
      undefined, undefined, 'kss', true, PatchStrategy.ServerSideApply,
    );
    const custom = kc.makeApiClient(CustomObjectsApi);
    const coords = { group: 'serverless.kube.io', version: 'v1', namespace: NS, plural: 'functions', name: 'echo' };
    let fn = (await custom.getNamespacedCustomObject(coords)) as { status?: unknown; spec: { image: string }; metadata: { generation: number } };
    assert.equal(fn.status, undefined);
    await custom.patchNamespacedCustomObjectStatus(
      { ...coords, body: { status: { replicas: 2 }, spec: { image: 'ignored' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    fn = (await custom.getNamespacedCustomObject(coords)) as typeof fn;
    assert.deepEqual(fn.status, { replicas: 2 });
    assert.equal(fn.spec.image, 'x');
    assert.equal(fn.metadata.generation, 1);
    const list = (await custom.listNamespacedCustomObject({ group: 'serverless.kube.io', version: 'v1', namespace: NS, plural: 'functions' })) as { items: KubernetesObject[] };
    assert.equal(list.items[0].kind, 'Function');
  });

  it('watch from a resourceVersion sees later events in order; expired RV gets 410; dropWatches', async () => {
    const start = await core.listNamespacedSecret({ namespace: NS });
    const seen: string[] = [];
    const watch = new Watch(kc);
    let doneErr: unknown = 'not yet';
    await watch.watch(`/api/v1/namespaces/${NS}/secrets`, { resourceVersion: start.metadata?.resourceVersion }, (type, obj) => {
      seen.push(`${type}:${obj.metadata.name}`);
    }, (err) => {
      doneErr = err;
    });
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 's1' } } });
    await core.patchNamespacedSecret({ namespace: NS, name: 's1', body: { stringData: { a: 'b' } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    await core.deleteNamespacedSecret({ namespace: NS, name: 's1' });
    await waitFor(() => seen.length === 3);
    assert.deepEqual(seen, ['ADDED:s1', 'MODIFIED:s1', 'DELETED:s1']);
    assert.equal(api.openWatches(), 1);
    assert.equal(api.dropWatches(), 1);
    await waitFor(() => doneErr !== 'not yet');
    assert.equal(doneErr, null);

    for (let i = 0; i < 25; i++) await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: `bulk-${i}` } } });
    const events: Array<{ type: string; code?: number }> = [];
    let done = false;
    await watch.watch(`/api/v1/namespaces/${NS}/configmaps`, { resourceVersion: start.metadata?.resourceVersion }, (type, obj) => events.push({ type, code: obj.code }), () => {
      done = true;
    });
    await waitFor(() => done);
    assert.deepEqual(events, [{ type: 'ERROR', code: 410 }]);
  });

  it('deleting an owner garbage-collects dependents recursively', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'owner' } } });
    const ref = (name: string, uid: string) => [{ apiVersion: 'v1', kind: 'ConfigMap', name, uid }];
    const child = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'child', ownerReferences: ref('owner', owner.metadata!.uid!) } } });
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'grandchild', ownerReferences: ref('child', child.metadata!.uid!) } } });
    await core.deleteNamespacedConfigMap({ namespace: NS, name: 'owner', propagationPolicy: 'Background' });
    await waitFor(() => !api.get('secrets', NS, 'grandchild') && !api.get('configmaps', NS, 'child'));
  });

  it('injected faults fail the next matching requests, then are consumed', async () => {
    api.faults.next({ method: 'GET', pathIncludes: '/configmaps/a', status: 503, times: 2 });
    await expectCode(core.readNamespacedConfigMap({ namespace: NS, name: 'a' }), 503);
    await expectCode(core.readNamespacedConfigMap({ namespace: NS, name: 'a' }), 503);
    assert.equal((await core.readNamespacedConfigMap({ namespace: NS, name: 'a' })).metadata?.name, 'a');
    assert.equal(api.faults.pending().length, 0);
    api.faults.next({ method: 'PATCH', status: 409 });
    await expectCode(core.patchNamespacedConfigMap({ namespace: NS, name: 'a', body: [] }), 409);
  });

  it('serves pod logs, with tailLines and follow', async () => {
    await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'main', image: 'x' }] } } });
    api.logs.append(NS, 'p', 'one');
    api.logs.append(NS, 'p', 'two');
    assert.equal(await core.readNamespacedPodLog({ namespace: NS, name: 'p', tailLines: 1 }), 'two\n');
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (c: Buffer) => (text += c.toString()));
    const controller = await new Log(kc).log(NS, 'p', 'main', stream, { follow: true });
    api.logs.append(NS, 'p', 'three');
    await waitFor(() => text === 'one\ntwo\nthree\n');
    controller.abort();
  });

  it('discovery and endpointslices through the typed clients', async () => {
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    api.put({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'x', namespace: NS, labels: { 'kubernetes.io/service-name': 's' } }, addressType: 'IPv4', endpoints: [] });
    const slices = await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=s' });
    assert.equal(slices.items.length, 1);
    await apps.replaceNamespacedDeploymentScale({ namespace: NS, name: 'fn', body: { metadata: { name: 'fn', namespace: NS }, spec: { replicas: 0 } } });
    assert.equal((await apps.readNamespacedDeploymentScale({ namespace: NS, name: 'fn' })).spec?.replicas, 0);
  });
});

describe('workload simulation', () => {
  it('runs Deployment replicas, publishes EndpointSlices, scales to zero', async () => {
    const api = await startFakeKubeApi();
    const kc = clientFor(api);
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    let running = 0;
    const sim = simulateWorkloads(api, {
      async startReplica(pod) {
        const server = createServer((_req, res) => res.end(`hello from ${pod.metadata.name}`));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        running++;
        return {
          ip: '127.0.0.1',
          port: (server.address() as AddressInfo).port,
          stop: () => new Promise<void>((resolve) => server.close(() => { running--; resolve(); })),
        };
      },
    });
    try {
      await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'echo' }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } } });
      await apps.createNamespacedDeployment({
        namespace: NS,
        body: {
          metadata: { name: 'echo' },
          spec: { replicas: 2, selector: { matchLabels: { app: 'echo' } }, template: { metadata: { labels: { app: 'echo' } }, spec: { containers: [{ name: 'main', image: 'x' }] } } },
        },
      });
      await sim.settled();
      const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=echo' });
      assert.equal(pods.items.length, 2);
      for (const pod of pods.items) {
        assert.equal(pod.status?.phase, 'Running');
        assert.ok(pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      }
      const deployment = await apps.readNamespacedDeployment({ namespace: NS, name: 'echo' });
      assert.equal(deployment.status?.readyReplicas, 2);
      const slices = await kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=echo' });
      assert.equal(slices.items.length, 2);
      for (const slice of slices.items) {
        const response = await fetch(`http://${slice.endpoints[0].addresses[0]}:${slice.ports![0].port}/`);
        assert.match(await response.text(), /hello from echo-/);
      }
      await apps.patchNamespacedDeploymentScale(
        { namespace: NS, name: 'echo', body: { spec: { replicas: 0 } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await sim.settled();
      assert.equal(running, 0);
      assert.equal((await core.listNamespacedPod({ namespace: NS })).items.length, 0);
      assert.equal(api.objects('endpointslices').length, 0);
    } finally {
      await api.close();
    }
    assert.equal(running, 0);
  });
});
