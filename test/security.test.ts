/**
 * Security by default, over real sockets: every route in the route table checked for
 * auth (401 / 403 / allowed), per-function token auth, platform credentials never
 * reaching functions, rate limits, tokens, the audit log, security headers, CORS,
 * slow clients, TLS and --no-auth.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { freePort } from '../src/providers/local/ports.js';
import { deployFunction, ECHO_HANDLER, eventually, startTestPlatform, tempDir, type TestPlatform } from './helpers.js';

let p: TestPlatform;
const tokens: Record<string, { id: string; token: string }> = {};

before(async () => {
  p = await startTestPlatform({ headersTimeoutMs: 1000 });
  await deployFunction(p.client, 'echo', { 'handler.js': ECHO_HANDLER });
  await deployFunction(p.client, 'private', { 'handler.js': ECHO_HANDLER }, { annotations: { 'kss.auth': 'token' } });
  for (const scope of ['read', 'invoke', 'deploy', 'admin']) {
    const created = await p.client.createToken({ name: `${scope}-token`, scopes: [scope] });
    tokens[scope] = { id: created.id, token: created.token };
  }
});
after(async () => {
  await p.close();
});

const bearer = (scope: string) => ({ authorization: `Bearer ${tokens[scope]!.token}` });

/** A scope that does NOT grant `needed` (for the 403 check). */
const WEAKER: Record<string, string> = { read: 'invoke', deploy: 'read', admin: 'deploy' };

/** Turns a route pattern into a concrete URL. */
function concrete(url: string, victimToken: string): string {
  return url.replace(':name', 'victim-fn').replace(':id', victimToken).replace('*', 'x');
}

test('every route in the route table enforces its declared auth', async () => {
  const routes = p.app.kssRoutes;
  assert.ok(routes.length >= 20, `route table has ${routes.length} routes`);
  const victim = await p.client.createToken({ name: 'victim', scopes: ['read'] });
  const checked: string[] = [];
  for (const route of routes) {
    if (route.method === 'OPTIONS' && route.url.startsWith('/function')) continue;
    const url = concrete(route.url, victim.id);
    const send = (headers: Record<string, string>) => fetch(`${p.url}${url}`, { method: route.method, headers: { 'content-type': 'application/json', ...headers }, body: ['GET', 'HEAD'].includes(route.method) ? undefined : '{}' });
    const anon = await send({});
    if (route.auth === 'public' || route.auth === 'function') {
      assert.notEqual(anon.status, 401, `${route.method} ${route.url} is ${route.auth}`);
      continue;
    }
    assert.equal(anon.status, 401, `${route.method} ${route.url} without credentials`);
    assert.equal(anon.headers.get('x-kss-error'), 'KSS_UNAUTHORIZED');
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm="kube-serverless"/);
    const garbage = await send({ authorization: 'Basic Zm9vOmJhcg==' });
    assert.equal(garbage.status, 401, `${route.method} ${route.url} with wrong credentials`);
    const weak = await send(bearer(WEAKER[route.auth]!));
    assert.equal(weak.status, 403, `${route.method} ${route.url} with a ${WEAKER[route.auth]} token`);
    assert.equal(weak.headers.get('x-kss-error'), 'KSS_FORBIDDEN');
    const right = await send(bearer(route.auth));
    assert.ok(right.status !== 401 && right.status !== 403, `${route.method} ${route.url} with a ${route.auth} token → ${right.status}`);
    checked.push(`${route.method} ${route.url}`);
  }
  for (const must of ['GET /system/functions', 'POST /system/functions', 'DELETE /system/functions', 'GET /system/info', 'POST /api/v1/code', 'POST /api/v1/tokens', 'GET /api/v1/audit']) {
    assert.ok(checked.includes(must), `${must} was checked`);
  }
});

test('the admin API answers 401 to faas-cli without login, and accepts its basic auth', async () => {
  const res = await fetch(`${p.url}/system/functions`);
  assert.equal(res.status, 401);
  const ok = await fetch(`${p.url}/system/functions`, { headers: { authorization: p.adminAuth! } });
  assert.equal(ok.status, 200);
  assert.equal((await fetch(`${p.url}/healthz`)).status, 200, '/healthz stays public');
});

test('a function with kss.auth: token needs an invoke-scoped token; public ones need nothing', async () => {
  assert.equal((await fetch(`${p.url}/function/echo`)).status, 200);
  const anon = await fetch(`${p.url}/function/private`);
  assert.equal(anon.status, 401);
  assert.equal(anon.headers.get('x-kss-error'), 'KSS_UNAUTHORIZED');
  assert.equal((await fetch(`${p.url}/function/private`, { headers: bearer('read') })).status, 403);
  assert.equal((await fetch(`${p.url}/function/private`, { headers: bearer('deploy') })).status, 403);
  assert.equal((await fetch(`${p.url}/function/private`, { headers: bearer('invoke') })).status, 200);
  assert.equal((await fetch(`${p.url}/function/private`, { headers: { authorization: p.adminAuth! } })).status, 200);
  assert.equal((await fetch(`${p.url}/api/v1/functions/private/invoke`, { method: 'POST' })).status, 401);
  assert.equal((await fetch(`${p.url}/api/v1/functions/private/invoke`, { method: 'POST', headers: bearer('invoke') })).status, 200);
});

test('platform credentials never reach a function; its own Authorization header does', async () => {
  for (const auth of [p.adminAuth!, `Bearer ${tokens.invoke!.token}`]) {
    for (const fn of ['echo', 'private']) {
      const seen = (await (await fetch(`${p.url}/function/${fn}`, { headers: { authorization: auth } })).json()) as { headers: Record<string, string> };
      assert.equal(seen.headers.authorization, undefined, `${fn} saw platform credentials`);
    }
  }
  const own = (await (await fetch(`${p.url}/function/echo`, { headers: { authorization: 'Bearer the-functions-own-scheme' } })).json()) as { headers: Record<string, string> };
  assert.equal(own.headers.authorization, 'Bearer the-functions-own-scheme');
});

test('rate limits: per function and per client, 429 with Retry-After', async () => {
  await deployFunction(p.client, 'limited', { 'handler.js': 'export default async () => "ok";' }, { annotations: { 'kss.ratelimit': '3/m' } });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await fetch(`${p.url}/function/limited`)).status);
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  const limited = await fetch(`${p.url}/function/limited`);
  assert.equal(limited.headers.get('x-kss-error'), 'KSS_RATE_LIMITED');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);

  await deployFunction(p.client, 'per-client', { 'handler.js': 'export default async () => "ok";' }, { annotations: { 'kss.ratelimit.client': '2/m' } });
  const a = [];
  for (let i = 0; i < 3; i++) a.push((await fetch(`${p.url}/function/per-client`, { headers: bearer('invoke') })).status);
  assert.deepEqual(a, [200, 200, 429], 'one client is limited');
  assert.equal((await fetch(`${p.url}/function/per-client`, { headers: bearer('admin') })).status, 200, 'another client is not');

  const bad = await p.api('/system/functions', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: 'limited', annotations: { 'kss.ratelimit': 'lots' }, code: (await p.client.getFunction('limited')).code }) });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { message: string }).message, /annotations\.kss\.ratelimit/);
});

test('tokens: created, listed without secrets, revoked at once; the audit log records who did what', async () => {
  const created = await p.client.createToken({ name: 'ci deploy', scopes: ['deploy'], expires: '30d' });
  assert.ok(Date.parse(created.expiresAt!) > Date.now() + 29 * 86_400_000);
  const listed = JSON.stringify(await p.client.listTokens());
  assert.ok(listed.includes(created.id));
  assert.ok(!listed.includes(created.token.split('_').slice(2).join('_')), 'no secret in the list');
  assert.equal((await fetch(`${p.url}/system/functions`, { headers: { authorization: `Bearer ${created.token}` } })).status, 200);
  await p.client.revokeToken(created.id);
  assert.equal((await fetch(`${p.url}/system/functions`, { headers: { authorization: `Bearer ${created.token}` } })).status, 401);
  const bad = await p.api('/api/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x","scopes":["root"]}' });
  assert.equal(bad.status, 400);

  const { items } = await p.client.audit({ limit: 200 });
  const actions = items.map((e) => `${e.actor} ${e.action} ${e.target ?? ''} ${e.status}`);
  assert.ok(actions.includes(`admin token.revoke ${created.id} 204`), actions.join('\n'));
  assert.ok(actions.includes('admin token.create ci deploy 201'));
  assert.ok(actions.some((a) => /^admin function\.create private /.test(a)));
  assert.ok(items.every((e) => e.ip === '127.0.0.1' && !Number.isNaN(Date.parse(e.at))));
  const audit = JSON.stringify(items);
  for (const t of Object.values(tokens)) assert.ok(!audit.includes(t.token));
});

test('management responses carry security headers; CORS is off by default', async () => {
  const res = await p.api('/system/functions', { headers: { origin: 'https://evil.example' } });
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  const err = await fetch(`${p.url}/system/functions`);
  assert.equal(err.headers.get('x-content-type-options'), 'nosniff');
});

test('CORS for configured origins only', async (t) => {
  const q = await startTestPlatform({ corsOrigins: ['https://dash.example'] });
  t.after(() => q.close());
  const ok = await q.api('/system/functions', { headers: { origin: 'https://dash.example' } });
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://dash.example');
  const other = await q.api('/system/functions', { headers: { origin: 'https://evil.example' } });
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  const pre = await fetch(`${q.url}/api/v1/functions`, { method: 'OPTIONS', headers: { origin: 'https://dash.example', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
});

test('a client that sends its headers one byte a second is disconnected', async () => {
  const url = new URL(p.url);
  const started = Date.now();
  const closed = await new Promise<boolean>((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const request = 'GET /system/functions HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(30);
    let i = 0;
    const timer = setInterval(() => {
      if (i < request.length) socket.write(request[i++]!);
    }, 1000);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(true);
    });
    socket.on('error', () => {});
    setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      resolve(false);
    }, 15_000).unref();
  });
  assert.ok(closed, 'the slow connection was closed');
  assert.ok(Date.now() - started < 15_000);
  assert.equal((await fetch(`${p.url}/healthz`)).status, 200);
});

test('HTTPS with --tls-cert/--tls-key', async (t) => {
  const dir = tempDir('kss-tls-');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  } catch {
    t.skip('openssl is not installed');
    return;
  }
  const q = await startTestPlatform({ tls: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) } });
  t.after(() => q.close());
  assert.match(q.url, /^https:\/\//);
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const { request } = await import('undici');
  const res = await request(`${q.url}/system/functions`, { dispatcher, headers: { authorization: q.adminAuth! } });
  assert.equal(res.statusCode, 200);
  await res.body.text();
  await dispatcher.close();
});

test('kss up --no-auth warns on every start; the default prints where the password is', async (t) => {
  const KSS = fileURLToPath(new URL('../../bin/kss.js', import.meta.url));
  const dataDir = tempDir('kss-noauth-');
  for (const attempt of [1, 2]) {
    const port = await freePort();
    const child = spawn(process.execPath, [KSS, 'up', '--no-auth', '--port', String(port), '--data-dir', dataDir, '--log-format', 'json', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let logs = '';
    child.stdout!.on('data', (d) => (logs += d));
    await eventually(() => logs.includes('authentication is OFF'), 20_000, `the --no-auth warning (start ${attempt})`);
    assert.equal((await fetch(`http://127.0.0.1:${port}/system/functions`)).status, 200);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
