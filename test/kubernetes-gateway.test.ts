/**
 * `kss up --provider kubernetes` end to end against the fake API server and its
 * simulated kubelet: the same client and API as on one machine deploy, list, invoke
 * and remove a function; the specs live in Function resources, not in SQLite.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { simulateWorkloads, startFakeKubeApi, type FakeKubeApi, writeKubeconfigFile } from './fake-kube-api/index.js';
import { deployFunction, eventually, startTestPlatform, type TestPlatform } from './helpers.js';
import { runPod } from './kube-pod-runner.js';

let api: FakeKubeApi;
let p: TestPlatform;

const kubeconfigFile = () => writeKubeconfigFile(api);

before(async () => {
  api = await startFakeKubeApi();
  simulateWorkloads(api, { startReplica: (pod) => runPod(api, pod), restartBackoffMs: 100 });
  const kubeconfig = kubeconfigFile();
  p = await startTestPlatform({ provider: 'kubernetes', kubeconfig, resyncMs: 1000 });
});
after(async () => {
  await p?.close();
  await api?.close();
});

test('deploy, invoke, list and remove through the gateway, with the spec stored as a Function resource', async () => {
  await deployFunction(p.client, 'kube-hello', { 'handler.js': 'export default async (req) => `hello from a pod: ${await req.text()}`' }, { envVars: { WHERE: 'cluster' } });
  const fn = api.get('functions', 'openfaas-fn', 'kube-hello') as unknown as { spec: { runtime: string; envVars: Record<string, string> } };
  assert.equal(fn.spec.runtime, 'node');
  assert.deepEqual(fn.spec.envVars, { WHERE: 'cluster' });
  // Each revision runs as its own Deployment, NAME--rN (docs/revisions.md).
  assert.ok(api.get('deployments', 'openfaas-fn', 'kube-hello--r1'));
  const res = await fetch(`${p.url}/function/kube-hello`, { method: 'POST', body: 'hi' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello from a pod: hi');
  const info = (await p.client.info()) as { provider: { orchestration: string } };
  assert.equal(info.provider.orchestration, 'kubernetes');
  const listed = await p.client.listFunctions();
  assert.deepEqual(listed.map((f) => [f.name, f.availableReplicas]), [['kube-hello', 1]]);
  await p.client.removeFunction('kube-hello');
  await eventually(() => !api.get('functions', 'openfaas-fn', 'kube-hello') && !api.get('deployments', 'openfaas-fn', 'kube-hello--r1') && api.objects('controllerrevisions').length === 0, 10_000, 'the Function, its Deployment and its revisions gone');
  assert.deepEqual(await p.client.listFunctions(), []);
});

test('a second gateway on the same cluster sees the functions the first deployed (no local state)', async () => {
  await deployFunction(p.client, 'shared', { 'handler.js': 'export default () => "shared"' });
  const kubeconfig = kubeconfigFile();
  const second = await startTestPlatform({ provider: 'kubernetes', kubeconfig, resyncMs: 1000 });
  try {
    assert.deepEqual((await second.client.listFunctions()).map((f) => f.name), ['shared']);
  } finally {
    await second.close();
  }
  await p.client.removeFunction('shared');
});

test('two gateways at once: what one deploys, changes or removes, the other serves or forgets', async () => {
  const second = await startTestPlatform({ provider: 'kubernetes', kubeconfig: kubeconfigFile(), resyncMs: 1000 });
  try {
    await deployFunction(p.client, 'both', { 'handler.js': 'export default () => "v1"' });
    // Built and shipped by the first gateway; the second knows it from the Function resource.
    await eventually(async () => {
      const res = await fetch(`${second.url}/function/both`);
      return res.status === 200 && (await res.text()) === 'v1';
    }, 20_000, 'the second gateway serving what the first deployed');
    const status = await second.client.getFunction('both');
    assert.equal(status.availableReplicas, 1);
    await deployFunction(second.client, 'both', { 'handler.js': 'export default () => "v2"' });
    await eventually(async () => {
      const res = await fetch(`${p.url}/function/both`);
      return res.status === 200 && (await res.text()) === 'v2';
    }, 20_000, 'the first gateway serving the second one\'s update');
    await p.client.removeFunction('both');
    await eventually(async () => (await fetch(`${second.url}/function/both`)).status === 404, 10_000, 'the second gateway forgetting the removed function');
  } finally {
    await second.close();
  }
});
