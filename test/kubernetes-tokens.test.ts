/**
 * API tokens with `--provider kubernetes`: Secrets in the gateway's namespace, watched
 * by every replica. Two gateways on one fake cluster: what one creates the other
 * accepts, what one revokes the other rejects after its watch delivers it, and
 * verification never needs the API server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startFakeKubeApi, type FakeKubeApi, writeKubeconfigFile } from './fake-kube-api/index.js';
import { basicAuth, eventually, startTestPlatform, type TestPlatform } from './helpers.js';
import { systemClock, type Clock } from '../src/core/index.js';
import { KubernetesTokenStore, TOKEN_SECRET_TYPE } from '../src/gateway/auth/index.js';
import { KubeConfig } from '@kubernetes/client-node';

const NS = 'kss-gw';
/** How long another replica may take to see a change (the watch latency, here ~ms; generous for slow CI). */
const WATCH_BOUND_MS = 5_000;

let api: FakeKubeApi;
let a: TestPlatform;
let b: TestPlatform;
let offsetMs = 0;
/** Both gateways' clock: real time plus an offset the expiry test moves forward. */
const clock: Clock = { now: () => Date.now() + offsetMs, setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms) };

/** The status of a `read` route that needs no API server (the templates). */
const status = async (gw: TestPlatform, authorization: string) => (await fetch(`${gw.url}/api/v1/templates`, { headers: { authorization } })).status;
const bearer = (token: string) => `Bearer ${token}`;

before(async () => {
  api = await startFakeKubeApi();
  a = await startTestPlatform({ provider: 'kubernetes', kubeconfig: writeKubeconfigFile(api), gatewayNamespace: NS, clock });
  b = await startTestPlatform({ provider: 'kubernetes', kubeconfig: writeKubeconfigFile(api), gatewayNamespace: NS, clock });
});
after(async () => {
  await a?.close();
  await b?.close();
  await api?.close();
});

test('a token created on one gateway works on the other (bearer and basic-auth password), is listed there without its secret, and revoking it there is seen back', async () => {
  const created = await a.client.createToken({ name: 'ci', scopes: ['read'], expires: '30d' });
  // (base64url: the secret itself may hold `_`.)
  const secret = created.token.slice(`kss_${created.id}_`.length);
  assert.equal(secret.length, 43);
  // The creating replica accepts it at once, before any watch event.
  assert.equal(await status(a, bearer(created.token)), 200);
  await eventually(async () => (await status(b, bearer(created.token))) === 200, WATCH_BOUND_MS, 'gateway B accepting the token');
  assert.equal(await status(b, basicAuth('anyone', created.token)), 200, 'as the basic-auth password');
  assert.equal(await status(b, bearer(`${created.token.slice(0, -1)}${created.token.endsWith('A') ? 'B' : 'A'}`)), 401, 'a wrong secret');
  assert.equal(await status(b, bearer(`kss_${created.id}_${'a'.repeat(43)}`)), 401);
  assert.equal(await status(b, bearer(`kss_000000000000_${secret}`)), 401, 'the secret under another id');

  const listed = (await b.client.listTokens()).items;
  const item = listed.find((t) => t.id === created.id)!;
  assert.deepEqual({ ...item, lastUsedAt: undefined }, { id: created.id, name: 'ci', scopes: ['read'], createdAt: created.createdAt, createdBy: 'admin', expiresAt: created.expiresAt, lastUsedAt: undefined });
  const text = JSON.stringify(listed);
  assert.ok(!text.includes(secret), 'no secret in the list: ' + text);
  assert.ok(!('token' in item));

  // The Secret: ours, labelled, the hash only.
  const s = api.get('secrets', NS, `kss-token-${created.id}`) as unknown as { type: string; metadata: { labels: Record<string, string> }; data: Record<string, string> };
  assert.equal(s.type, TOKEN_SECRET_TYPE);
  assert.equal(s.metadata.labels['app.kubernetes.io/managed-by'], 'kube-serverless');
  assert.equal(s.metadata.labels['serverless.kube.io/token'], 'true');
  assert.deepEqual(Object.keys(s.data).sort(), ['createdAt', 'createdBy', 'expiresAt', 'name', 'scopes', 'secretHash']);
  assert.deepEqual(Buffer.from(s.data.secretHash!, 'base64'), createHash('sha256').update(secret).digest());
  const stored = JSON.stringify(s) + Object.values(s.data).map((v) => Buffer.from(v, 'base64').toString('utf8')).join('\n');
  assert.ok(!stored.includes(secret) && !stored.includes(Buffer.from(secret).toString('base64')), 'no secret in the Secret');

  // Revoked through B: B rejects at once, A as soon as its watch delivers the change.
  await b.client.revokeToken(created.id);
  assert.equal(await status(b, bearer(created.token)), 401);
  const started = Date.now();
  await eventually(async () => (await status(a, bearer(created.token))) === 401, WATCH_BOUND_MS, 'gateway A rejecting the revoked token');
  assert.ok(Date.now() - started < WATCH_BOUND_MS);
  assert.ok((await a.client.listTokens()).items.find((t) => t.id === created.id)!.revokedAt);
  const again = await a.api(`/api/v1/tokens/ffffffffffff`, { method: 'DELETE' });
  assert.equal(again.status, 404);
  assert.equal(((await again.json()) as { code: string }).code, 'KSS_TOKEN_NOT_FOUND');
});

test('bad input is KSS_BAD_REQUEST; an API failure on create is KSS_PROVIDER_UNAVAILABLE with no secret in it', async () => {
  const bad = await a.api('/api/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"","scopes":["read"]}' });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { code: string }).code, 'KSS_BAD_REQUEST');
  api.faults.next({ method: 'POST', pathIncludes: `/namespaces/${NS}/secrets`, status: 500 });
  const failed = await a.api('/api/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x","scopes":["read"]}' });
  const body = (await failed.json()) as { code: string; message: string };
  assert.equal(body.code, 'KSS_PROVIDER_UNAVAILABLE');
  assert.doesNotMatch(body.message, /kss_[a-f0-9]{12}_/);
});

test('an expired token is rejected by both gateways', async () => {
  const created = await a.client.createToken({ name: 'short', scopes: ['read'], expires: '1m' });
  await eventually(async () => (await status(b, bearer(created.token))) === 200, WATCH_BOUND_MS, 'gateway B accepting the token');
  offsetMs += 61_000;
  try {
    assert.equal(await status(a, bearer(created.token)), 401);
    assert.equal(await status(b, bearer(created.token)), 401);
  } finally {
    offsetMs -= 61_000;
  }
});

test('with the API server failing and the watches cut, tokens still verify from the cache', async () => {
  const created = await a.client.createToken({ name: 'offline', scopes: ['read'] });
  await eventually(async () => (await status(b, bearer(created.token))) === 200, WATCH_BOUND_MS, 'gateway B accepting the token');
  const before = api.requests.length;
  // Every request fails from now on, and the open watches are cut: nothing new can be read.
  api.faults.next({ status: 503, times: 100_000 });
  api.dropWatches({ abrupt: true });
  try {
    for (let i = 0; i < 20; i++) {
      assert.equal(await status(a, bearer(created.token)), 200);
      assert.equal(await status(b, basicAuth('x', created.token)), 200);
      assert.equal(await status(b, bearer(`${created.token.slice(0, -2)}xx`)), 401);
    }
    // No request was about this token: verification never reads the API (only watch restarts, all failing).
    const since = api.requests.slice(before);
    assert.ok(since.every((r) => !r.path.includes(`kss-token-${created.id}`)), JSON.stringify(since));
    assert.ok(since.every((r) => r.method === 'GET'), JSON.stringify(since));
  } finally {
    api.faults.clear();
  }
  // The watches come back: a revocation made now still reaches the other gateway.
  await a.client.revokeToken(created.id);
  await eventually(async () => (await status(b, bearer(created.token))) === 401, WATCH_BOUND_MS + 5_000, 'gateway B seeing the revocation after the outage');
});

test('the store refuses to start when it cannot list the tokens, and never calls the API to verify', async () => {
  // A namespace of its own: the gateways of the other tests watch NS, and their requests would meet the fault first.
  const alone = 'kss-tokens-alone';
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeConfigOptions());
  api.faults.next({ method: 'GET', pathIncludes: `/namespaces/${alone}/secrets`, status: 500 });
  const failing = new KubernetesTokenStore({ kubeConfig: kc, namespace: alone, clock });
  await assert.rejects(failing.start(), (err: { code?: string }) => err.code === 'KSS_PROVIDER_UNAVAILABLE');
  const store = new KubernetesTokenStore({ kubeConfig: kc, namespace: alone, clock });
  await store.start();
  try {
    const { token, info } = await store.create({ name: 'direct', scopes: ['invoke'], createdBy: 'test' });
    const count = api.requests.length;
    assert.deepEqual(store.verify(token), { id: `token:${info.id}`, name: 'direct', scopes: ['invoke'] });
    assert.equal(store.verify('garbage'), undefined);
    assert.equal(api.requests.length, count, 'verify made no request');
    assert.ok(store.get(info.id));
    assert.equal(await store.revoke(info.id), true);
    assert.equal(store.verify(token), undefined);
    assert.equal(await store.revoke('ffffffffffff'), false);
    await assert.rejects(Promise.resolve().then(() => store.create({ name: 'x', scopes: [], createdBy: 'test' })), (err: { code?: string }) => err.code === 'KSS_BAD_REQUEST');
  } finally {
    store.close();
  }
});
