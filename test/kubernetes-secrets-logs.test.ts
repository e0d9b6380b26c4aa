/**
 * `kss up --provider kubernetes`: the secrets API keeps Kubernetes Secrets (what the
 * pods mount) and the logs API reads the pods' logs, against the fake API server and
 * its simulated kubelet. Secret values must show up base64 in the Secret's `data` and
 * nowhere else: not in a list, an error body or the gateway's log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { pino } from 'pino';
import { simulateWorkloads, startFakeKubeApi, type FakeKubeApi, writeKubeconfigFile } from './fake-kube-api/index.js';
import { deployFunction, eventually, startTestPlatform, writeFunction, type TestPlatform } from './helpers.js';
import type { FunctionLogLine } from '../src/core/index.js';
import { runPod } from './kube-pod-runner.js';
import { packDirectory } from '../src/archive/index.js';

const NS = 'openfaas-fn';
const VALUE = 'K8s-S3cr3t-VALUE-db';
const VALUE2 = 'K8s-R0tated-VALUE-db';
const LEAKS = [VALUE, VALUE2, Buffer.from(VALUE).toString('base64'), Buffer.from(VALUE2).toString('base64')];

let api: FakeKubeApi;
let p: TestPlatform;
const logLines: string[] = [];

const kubeconfigFile = () => writeKubeconfigFile(api);

before(async () => {
  api = await startFakeKubeApi();
  simulateWorkloads(api, { startReplica: (pod) => runPod(api, pod), restartBackoffMs: 100 });
  // Every log line at every level, to check no value reaches the log.
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
  p = await startTestPlatform({ provider: 'kubernetes', kubeconfig: kubeconfigFile(), resyncMs: 1000, logger });
});
after(async () => {
  await p?.close();
  await api?.close();
});

const json = { 'content-type': 'application/json' };
const secrets = (method: string, body?: unknown) => p.api('/system/secrets', { method, headers: json, body: body === undefined ? undefined : JSON.stringify(body) });

async function expectError(res: Response, status: number, code: string): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get('x-kss-error'), code, text);
  for (const leak of LEAKS) assert.ok(!text.includes(leak), `error body holds a value: ${text}`);
  return (JSON.parse(text) as { message: string }).message;
}

interface SecretObject {
  type?: string;
  data?: Record<string, string>;
  metadata: { labels?: Record<string, string> };
}

test('/system/secrets creates, lists, updates and deletes Kubernetes Secrets the pods mount', async () => {
  assert.equal((await secrets('POST', { name: 'db-password', value: VALUE })).status, 201);
  const s = api.get('secrets', NS, 'db-password') as unknown as SecretObject;
  assert.equal(s.type, 'Opaque');
  assert.deepEqual(Object.keys(s.data!), ['db-password'], 'one key, named like the secret: the file the projected volume makes');
  assert.equal(Buffer.from(s.data!['db-password']!, 'base64').toString(), VALUE);
  assert.equal(s.metadata.labels?.['app.kubernetes.io/managed-by'], 'kube-serverless');

  // A Secret made with kubectl: not listed, not changed, not deleted by the API.
  api.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'registry-creds', namespace: NS }, type: 'Opaque', data: { token: Buffer.from('other').toString('base64') } });

  await expectError(await secrets('POST', { name: 'db-password', value: VALUE2 }), 409, 'KSS_SECRET_EXISTS');
  const listRes = await secrets('GET');
  const listText = await listRes.text();
  assert.equal(listRes.status, 200);
  for (const leak of LEAKS) assert.ok(!listText.includes(leak), 'the list holds a value');
  const list = JSON.parse(listText) as Array<{ name: string; namespace: string; createdAt: string; updatedAt: string }>;
  assert.deepEqual(list.map((x) => [x.name, x.namespace]), [['db-password', NS]]);
  assert.ok(Date.parse(list[0]!.createdAt) > 0 && Date.parse(list[0]!.updatedAt) > 0);

  assert.equal((await secrets('PUT', { name: 'db-password', value: VALUE2 })).status, 200);
  assert.equal(Buffer.from((api.get('secrets', NS, 'db-password') as unknown as SecretObject).data!['db-password']!, 'base64').toString(), VALUE2);
  assert.equal((await p.secrets.read(NS, ['db-password'])).get('db-password')!.toString(), VALUE2, 'the SecretSource reads it back');
  await expectError(await secrets('PUT', { name: 'nope', value: VALUE }), 404, 'KSS_SECRET_NOT_FOUND');
  assert.match(await expectError(await secrets('PUT', { name: 'registry-creds', value: VALUE }), 404, 'KSS_SECRET_NOT_FOUND'), /does not manage/);
  await expectError(await secrets('DELETE', { name: 'registry-creds' }), 404, 'KSS_SECRET_NOT_FOUND');
  assert.ok(api.get('secrets', NS, 'registry-creds'), 'a Secret we do not manage is left alone');

  assert.equal((await secrets('DELETE', { name: 'db-password' })).status, 202);
  assert.equal(api.get('secrets', NS, 'db-password'), undefined);
  await expectError(await secrets('DELETE', { name: 'db-password' }), 404, 'KSS_SECRET_NOT_FOUND');
  assert.deepEqual(await (await secrets('GET')).json(), []);
  api.delete('secrets', NS, 'registry-creds');
});

test('deploys check the Secrets exist, mount them, and a used one cannot be deleted', async () => {
  const dir = writeFunction({ 'handler.js': 'export default () => "ok"' });
  const { digest } = await p.client.uploadCode(await packDirectory(dir));
  const missing = await p.api('/system/functions', { method: 'POST', headers: json, body: JSON.stringify({ service: 'with-secret', runtime: 'node', code: digest, secrets: ['api-key'] }) });
  assert.match(await expectError(missing, 400, 'KSS_MISSING_SECRET'), /api-key/);

  assert.equal((await secrets('POST', { name: 'api-key', value: VALUE })).status, 201);
  await deployFunction(p.client, 'with-secret', { 'handler.js': 'export default () => "ok"' }, { secrets: ['api-key'] });
  const dep = api.get('deployments', NS, 'with-secret--r1') as unknown as {
    spec: { template: { spec: { volumes: Array<{ name: string; projected?: { sources: Array<{ secret?: { name: string } }> } }>; containers: Array<{ volumeMounts: Array<{ name: string; mountPath: string }> }> } } };
  };
  const vol = dep.spec.template.spec.volumes.find((v) => v.name === 'secrets');
  assert.deepEqual(vol?.projected?.sources, [{ secret: { name: 'api-key' } }]);
  assert.ok(dep.spec.template.spec.containers[0]!.volumeMounts.some((m) => m.name === 'secrets' && m.mountPath === '/var/openfaas/secrets'));

  assert.match(await expectError(await secrets('DELETE', { name: 'api-key' }), 409, 'KSS_SECRET_IN_USE'), /with-secret/);
  assert.ok(api.get('secrets', NS, 'api-key'));
  await p.client.removeFunction('with-secret');
  assert.equal((await secrets('DELETE', { name: 'api-key' })).status, 202);
  assert.equal(api.get('secrets', NS, 'api-key'), undefined);
  for (const line of logLines) for (const leak of LEAKS) assert.ok(!line.includes(leak), `the gateway log holds a value: ${line}`);
});

type Line = FunctionLogLine;

async function readLogs(query: string): Promise<Line[]> {
  const res = await p.api(`/system/logs?${query}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

function podsOf(fn: string): string[] {
  return api
    .objects('pods')
    .filter((o) => (o.metadata.labels ?? {})['serverless.kube.io/revision-of'] === fn && !o.metadata.deletionTimestamp)
    .map((o) => o.metadata.name!)
    .sort();
}

test('/system/logs reads the pods\' logs, merged with the gateway\'s events; tail, instance, since, follow', async () => {
  await deployFunction(p.client, 'talky', { 'handler.js': 'export default () => "ok"' }, { labels: { 'com.openfaas.scale.min': '2' } });
  await eventually(() => podsOf('talky').length === 2, 15_000, 'two pods');
  const [a, b] = podsOf('talky') as [string, string];
  const t0 = Date.now() - 10_000;
  for (let i = 0; i < 5; i++) {
    api.logs.append(NS, a, `a line ${i}`, { time: new Date(t0 + i * 2) });
    api.logs.append(NS, b, `b line ${i}`, { time: new Date(t0 + i * 2 + 1) });
  }

  const all = await readLogs('name=talky');
  const fromPods = all.filter((l) => l.stream === 'stdout');
  assert.deepEqual(fromPods.map((l) => l.text), ['a line 0', 'b line 0', 'a line 1', 'b line 1', 'a line 2', 'b line 2', 'a line 3', 'b line 3', 'a line 4', 'b line 4'], 'interleaved by time');
  assert.deepEqual(fromPods.map((l) => l.instance), [a, b, a, b, a, b, a, b, a, b]);
  assert.ok(fromPods.every((l) => l.name === 'talky' && l.namespace === NS));
  assert.equal(fromPods[0]!.timestamp, new Date(t0).toISOString(), 'the kubelet\'s timestamp');
  const deployed = all.find((l) => l.stream === 'event' && l.instance === 'gateway' && /^deployed/.test(l.text));
  assert.ok(deployed, 'the gateway\'s deploy event is merged in');
  assert.ok(all.indexOf(deployed!) > all.indexOf(fromPods.at(-1)!), 'after the (older) pod lines');
  for (let i = 1; i < all.length; i++) assert.ok(Date.parse(all[i - 1]!.timestamp) <= Date.parse(all[i]!.timestamp), 'ordered by time');

  const tail = await readLogs('name=talky&tail=3');
  assert.equal(tail.length, 3);
  assert.deepEqual(tail, all.slice(-3), 'the last 3 of the merged lines');
  const onlyA = await readLogs(`name=talky&instance=${a}`);
  assert.deepEqual(onlyA.map((l) => l.text), ['a line 0', 'a line 1', 'a line 2', 'a line 3', 'a line 4']);
  const since = await readLogs(`name=talky&instance=${b}&since=${encodeURIComponent(new Date(t0 + 4).toISOString())}`);
  assert.deepEqual(since.map((l) => l.text), ['b line 2', 'b line 3', 'b line 4']);

  // Follow: the backlog, then a line appended after the request started, then the end when the client goes.
  const f = await follow(`name=talky&instance=${a}&tail=1&follow=true`);
  assert.equal(f.status, 200);
  await f.until('a line 4');
  await eventually(() => hasOpenLogStream(a), 5_000, 'the follow stream on the pod');
  api.logs.append(NS, a, 'a followed');
  api.logs.append(NS, b, 'b not followed');
  await f.until('a followed');
  const lines = f.text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  assert.deepEqual(lines.map((l) => l.text), ['a line 4', 'a followed'], 'no line twice, none of the other pod');
  assert.equal(lines[1]!.instance, a);
  assert.equal(lines[1]!.stream, 'stdout');
  f.abort();
  // The gateway's stream to the pod's log closes with the client.
  await eventually(() => !hasOpenLogStream(a), 5_000, 'the pod log stream closed');
  await p.client.removeFunction('talky');
});

test('follow picks up a pod that starts after the request', async () => {
  await deployFunction(p.client, 'growing', { 'handler.js': 'export default () => "ok"' });
  await eventually(() => podsOf('growing').length === 1, 15_000, 'one pod');
  const [first] = podsOf('growing') as [string];
  const f = await follow('name=growing&follow=true');
  assert.equal(f.status, 200);
  await eventually(() => hasOpenLogStream(first), 5_000, 'a stream on the first pod');
  await p.client.scale('growing', 2);
  await eventually(() => podsOf('growing').length === 2, 15_000, 'a second pod');
  const second = podsOf('growing').find((n) => n !== first)!;
  // Appended once the gateway follows it (it follows a pod once its container runs).
  await eventually(() => hasOpenLogStream(second), 10_000, 'a stream on the new pod');
  api.logs.append(NS, second, 'from the new pod');
  await f.until('from the new pod');
  f.abort();
  assert.match(f.text(), new RegExp(`"instance":"${second}","timestamp":"[^"]+","text":"from the new pod","stream":"stdout"`));
  await eventually(() => !hasOpenLogStream(first) && !hasOpenLogStream(second), 5_000, 'streams closed');
  await p.client.removeFunction('growing');
});

/**
 * A follow request on its own connection (node:http): what arrived so far, a way to
 * wait for some text, and the client going away (the socket destroyed).
 */
function follow(query: string): Promise<{ status: number; text: () => string; until: (what: string) => Promise<void>; abort: () => void }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(`${p.url}/system/logs?${query}`, { headers: { authorization: p.adminAuth ?? '' }, agent: false }, (res) => {
      let got = '';
      const waiters = new Set<() => void>();
      res.on('data', (chunk: Buffer) => {
        got += chunk.toString();
        for (const w of waiters) w();
      });
      res.on('error', () => {});
      resolve({
        status: res.statusCode ?? 0,
        text: () => got,
        until: (what) =>
          new Promise<void>((ok, fail) => {
            const check = () => {
              if (!got.includes(what)) return;
              waiters.delete(check);
              clearTimeout(timer);
              ok();
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no "${what}" in ${got}`));
            }, 5_000);
            waiters.add(check);
            check();
          }),
        abort: () => req.destroy(),
      });
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
}

/** True while the fake API server holds a follow stream on `pod`'s log. */
function hasOpenLogStream(pod: string): boolean {
  return (api.logs as unknown as { followers: Map<string, Set<unknown>> }).followers.get(`${NS}/${pod}`)?.size ? true : false;
}
