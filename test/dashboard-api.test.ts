/**
 * What the dashboard stands on, over real sockets: the login session (HttpOnly
 * cookie, CSRF header, rate-limited login, logout, tokens as passwords), the session
 * never reaching a function, the static files at /ui/, the live metrics history and
 * summary, the templates, and the cold-start header.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployFunction, ECHO_HANDLER, eventually, startTestPlatform, tempDir, type TestPlatform } from './helpers.js';

let p: TestPlatform;

before(async () => {
  const ui = tempDir('kss-ui-');
  mkdirSync(join(ui, 'assets'));
  writeFileSync(join(ui, 'index.html'), '<!doctype html><title>kss</title><script type="module" src="/ui/assets/app-abc123.js"></script>');
  writeFileSync(join(ui, 'assets', 'app-abc123.js'), 'console.log(1)');
  p = await startTestPlatform({ uiDir: ui, historyIntervalMs: 200 });
  await deployFunction(p.client, 'echo', { 'handler.js': ECHO_HANDLER });
});
after(async () => {
  await p.close();
});

async function login(password = p.admin!.password, username = 'admin', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${p.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username, password }) });
}

function sessionOf(res: Response): string {
  const cookie = res.headers.get('set-cookie') ?? '';
  const m = /kss_session=([^;]*)/.exec(cookie);
  assert.ok(m, `a session cookie in "${cookie}"`);
  return m[1]!;
}

const withSession = (id: string, extra: Record<string, string> = {}) => ({ cookie: `theme=dark; kss_session=${id}`, ...extra });

test('without a session the dashboard learns a login is needed, with a 200', async () => {
  const res = await fetch(`${p.url}/api/v1/session`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { authenticated: false, authRequired: true });
});

test('a wrong password is a 401 that echoes nothing; a bad body is a 400', async () => {
  const res = await login('hunter2-wrong');
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('set-cookie'), null);
  assert.match(res.headers.get('www-authenticate') ?? '', /^Basic/, 'curl and faas-cli get the challenge');
  const fromDashboard = await login('hunter2-wrong', 'admin', { 'x-kss-csrf': '1' });
  assert.equal(fromDashboard.status, 401);
  assert.equal(fromDashboard.headers.get('www-authenticate'), null, 'no challenge for the dashboard: a browser would hold the fetch for its password prompt');
  await fromDashboard.arrayBuffer();
  const body = (await res.json()) as { code: string; message: string };
  assert.equal(body.code, 'KSS_UNAUTHORIZED');
  assert.ok(!body.message.includes('hunter2'));
  for (const bad of ['{}', '[]', '"admin"', '{"username":"admin"}', '{"username":1,"password":2}', JSON.stringify({ username: 'admin', password: 'x'.repeat(2000) })]) {
    const r = await fetch(`${p.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bad });
    assert.equal(r.status, 400, bad.slice(0, 40));
    assert.equal(((await r.json()) as { code: string }).code, 'KSS_BAD_REQUEST');
  }
});

test('logging in sets an HttpOnly, SameSite=Strict cookie that authenticates reads', async () => {
  const res = await login();
  assert.equal(res.status, 200);
  const cookie = res.headers.get('set-cookie')!;
  for (const attr of ['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=43200']) assert.ok(cookie.includes(attr), `${attr} in ${cookie}`);
  assert.ok(!cookie.includes(p.admin!.password), 'the cookie is not the password');
  const body = (await res.json()) as { authenticated: boolean; user: string; scopes: string[]; expiresAt: string };
  assert.deepEqual([body.authenticated, body.user, body.scopes], [true, 'admin', ['admin']]);
  const id = sessionOf(res);
  const me = await fetch(`${p.url}/api/v1/session`, { headers: withSession(id) });
  assert.equal(((await me.json()) as { authenticated: boolean }).authenticated, true);
  const list = await fetch(`${p.url}/system/functions`, { headers: withSession(id) });
  assert.equal(list.status, 200);
});

test('a change made with the cookie needs the CSRF header; without it nothing changes', async () => {
  const id = sessionOf(await login());
  const before = (await p.client.listTokens()).items.length;
  const refused = await fetch(`${p.url}/api/v1/tokens`, { method: 'POST', headers: withSession(id, { 'content-type': 'application/json' }), body: JSON.stringify({ name: 'csrf', scopes: ['read'] }) });
  assert.equal(refused.status, 403);
  assert.equal(((await refused.json()) as { code: string }).code, 'KSS_FORBIDDEN');
  const del = await fetch(`${p.url}/system/functions`, { method: 'DELETE', headers: withSession(id, { 'content-type': 'application/json' }), body: JSON.stringify({ functionName: 'echo' }) });
  assert.equal(del.status, 403);
  assert.equal((await p.client.listTokens()).items.length, before);
  assert.ok(await p.client.getFunction('echo'), 'the function is still there');
  const ok = await fetch(`${p.url}/api/v1/tokens`, { method: 'POST', headers: withSession(id, { 'content-type': 'application/json', 'x-kss-csrf': '1' }), body: JSON.stringify({ name: 'csrf', scopes: ['read'] }) });
  assert.equal(ok.status, 201);
});

test('logging out ends the session and clears the cookie', async () => {
  const id = sessionOf(await login());
  const out = await fetch(`${p.url}/api/v1/session`, { method: 'DELETE', headers: withSession(id, { 'x-kss-csrf': '1' }) });
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie') ?? '', /kss_session=;.*Max-Age=0/);
  assert.equal((await fetch(`${p.url}/system/functions`, { headers: withSession(id) })).status, 401);
  assert.equal((await fetch(`${p.url}/system/functions`, { headers: withSession('forged-session-id-that-is-not-real-at-all1') })).status, 401);
});

test('a token works as the password, with its own scopes, and revoking it ends the session', async () => {
  const token = await p.client.createToken({ name: 'dash-reader', scopes: ['read'] });
  const res = await login(token.token, 'anyone');
  assert.equal(res.status, 200);
  assert.deepEqual(((await res.json()) as { scopes: string[] }).scopes, ['read']);
  const id = sessionOf(res);
  assert.equal((await fetch(`${p.url}/system/functions`, { headers: withSession(id) })).status, 200);
  const deploy = await fetch(`${p.url}/api/v1/tokens`, { method: 'POST', headers: withSession(id, { 'content-type': 'application/json', 'x-kss-csrf': '1' }), body: '{"name":"x","scopes":["admin"]}' });
  assert.equal(deploy.status, 403, 'a read token cannot create tokens through the dashboard either');
  await p.client.revokeToken(token.id);
  assert.equal((await fetch(`${p.url}/system/functions`, { headers: withSession(id) })).status, 401);
});

test('the session cookie never reaches a function, and a logged-in browser gets function pages sandboxed', async () => {
  const id = sessionOf(await login());
  const res = await fetch(`${p.url}/function/echo`, { headers: withSession(id) });
  assert.equal(res.status, 200);
  const seen = (await res.json()) as { headers: Record<string, string> };
  assert.equal(seen.headers.cookie, 'theme=dark', 'other cookies pass, the session does not');
  assert.match(res.headers.get('content-security-policy') ?? '', /^sandbox allow-scripts/);
  const plain = await fetch(`${p.url}/function/echo`, { headers: { cookie: 'theme=dark' } });
  assert.equal(plain.headers.get('content-security-policy'), null, 'no sandbox for callers without the session');
  await plain.arrayBuffer();
  // Async calls store headers: the session is not among them.
  const accepted = await fetch(`${p.url}/async-function/echo`, { method: 'POST', headers: withSession(id, { 'x-kss-csrf': '1' }), body: 'hi' });
  assert.equal(accepted.status, 202);
  const callId = accepted.headers.get('x-call-id')!;
  await eventually(async () => (await p.client.getCall(callId)).state === 'succeeded', 10_000, 'the async call');
  const call = await p.client.getCall(callId);
  const echoed = JSON.parse(call.result!.body!) as { headers: Record<string, string> };
  assert.equal(echoed.headers.cookie, 'theme=dark');
});

test('login attempts are rate limited per address', async () => {
  let limited: Response | undefined;
  for (let i = 0; i < 15 && !limited; i++) {
    const r = await login('wrong', 'admin', { 'x-forwarded-for': '203.0.113.9' });
    if (r.status === 429) limited = r;
    else await r.arrayBuffer();
  }
  assert.ok(limited, 'the login limit was reached');
  assert.equal(((await limited.json()) as { code: string }).code, 'KSS_RATE_LIMITED');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
});

test('the dashboard files are served at /ui/ with their own CSP; / redirects there', async () => {
  const root = await fetch(`${p.url}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/ui/');
  for (const path of ['/ui/', '/ui/functions/echo']) {
    const res = await fetch(`${p.url}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type')!, /text\/html/);
    assert.match(res.headers.get('content-security-policy')!, /script-src 'self'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.match(await res.text(), /app-abc123\.js/);
  }
  const asset = await fetch(`${p.url}/ui/assets/app-abc123.js`);
  assert.match(asset.headers.get('cache-control')!, /immutable/);
  assert.match(asset.headers.get('content-type')!, /javascript/);
  const missing = await fetch(`${p.url}/ui/assets/missing.js`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { code: string }).code, 'KSS_ROUTE_NOT_FOUND');
});

test('a gateway without a built dashboard says how to build it', async () => {
  const bare = await startTestPlatform({ uiDir: tempDir('kss-no-ui-') });
  try {
    const res = await fetch(`${bare.url}/ui/`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'KSS_DASHBOARD_NOT_BUILT');
    assert.match(body.message, /npm start/);
  } finally {
    await bare.close();
  }
});

test('metrics history and summary count what the function did', async () => {
  for (let i = 0; i < 5; i++) await (await fetch(`${p.url}/function/echo`)).arrayBuffer();
  await eventually(async () => {
    const h = (await (await p.api('/api/v1/metrics/history?function=echo')).json()) as { points: { invocations: number }[] };
    return h.points.reduce((n, x) => n + x.invocations, 0) >= 5;
  }, 10_000, 'five invocations in the history');
  const h = (await (await p.api('/api/v1/metrics/history?function=echo')).json()) as { intervalSeconds: number; points: Array<{ replicas: number; readyReplicas: number; p50Ms: number | null }> };
  assert.equal(h.intervalSeconds, 0.2);
  const last = h.points.at(-1)!;
  assert.deepEqual([last.replicas, last.readyReplicas], [1, 1]);
  assert.ok(h.points.some((x) => x.p50Ms !== null && x.p50Ms > 0));
  const platform = (await (await p.api('/api/v1/metrics/history')).json()) as { points: { invocations: number }[] };
  assert.ok(platform.points.reduce((n, x) => n + x.invocations, 0) >= 5);
  const summary = (await (await p.api('/api/v1/metrics/summary')).json()) as { windowSeconds: number; items: Array<{ name: string; invocations: number; errorRate: number; lastInvokedAt?: string }> };
  const echo = summary.items.find((i) => i.name === 'echo')!;
  assert.ok(echo.invocations >= 5);
  assert.equal(echo.errorRate, 0);
  assert.ok(echo.lastInvokedAt && Date.parse(echo.lastInvokedAt) > Date.now() - 60_000);
  const unknown = await p.api('/api/v1/metrics/history?function=nope');
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { code: string }).code, 'KSS_FUNCTION_NOT_FOUND');
  const bad = await p.api('/api/v1/metrics/history?function=Bad_Name!');
  assert.equal(bad.status, 400);
  assert.equal((await p.api('/api/v1/metrics/history?namespace=x')).status, 400);
  assert.equal((await fetch(`${p.url}/api/v1/metrics/history`)).status, 401, 'metrics need credentials');
});

test('templates list what kss new writes, with modes and spec fields', async () => {
  const res = await p.api('/api/v1/templates');
  const { items } = (await res.json()) as { items: Array<{ name: string; runtime: string; files: Array<{ path: string; mode: number; content: string }>; spec: Record<string, unknown>; mainFile: string }> };
  assert.deepEqual(items.map((t) => t.name), ['bash', 'go', 'node', 'python']);
  const bash = items.find((t) => t.name === 'bash')!;
  assert.equal(bash.runtime, 'exec');
  assert.deepEqual(bash.spec, { envProcess: './handler.sh' });
  assert.equal(bash.files.find((f) => f.path === 'handler.sh')!.mode, 0o755);
  const node = items.find((t) => t.name === 'node')!;
  assert.equal(node.mainFile, 'handler.js');
  assert.ok(!node.files.some((f) => f.path === 'README.md'), 'the README is not part of the function');
});

test('a cold start says so in X-Kss-Cold-Start-Seconds; a warm request does not', async () => {
  await deployFunction(p.client, 'sleepy', { 'handler.js': 'export default () => "zzz"' }, { labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h' } });
  const warm = await fetch(`${p.url}/function/sleepy`);
  assert.equal(warm.headers.get('x-kss-cold-start-seconds'), null);
  await warm.arrayBuffer();
  await p.client.scale('sleepy', 0);
  await p.client.autoscale('sleepy');
  await eventually(async () => (await p.client.getFunction('sleepy')).availableReplicas === 0, 10_000, 'zero replicas');
  const cold = await fetch(`${p.url}/function/sleepy`);
  assert.equal(cold.status, 200);
  const waited = Number(cold.headers.get('x-kss-cold-start-seconds'));
  assert.ok(waited > 0 && waited < 30, `waited ${waited}s`);
  assert.equal(await cold.text(), 'zzz');
});

test('with --no-auth the dashboard needs no login', async () => {
  const open = await startTestPlatform({ auth: false });
  try {
    const res = await fetch(`${open.url}/api/v1/session`);
    assert.deepEqual(await res.json(), { authenticated: true, authRequired: false, user: 'anonymous', scopes: ['admin'] });
  } finally {
    await open.close();
  }
});
