/**
 * Builds on deploy, over the real platform: npm dependencies, TypeScript, cached
 * rebuilds, build logs, and the bad paths (no entry point, compile errors) that
 * must leave nothing half deployed and the previous version serving.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { packDirectory } from '../src/archive/index.js';
import { ApiError } from '../src/client/index.js';
import { deployFunction, startTestPlatform, writeFunction, type TestPlatform } from './helpers.js';

let p: TestPlatform;

before(async () => {
  p = await startTestPlatform();
});
after(async () => {
  await p.close();
});

async function upload(files: Record<string, string>): Promise<string> {
  return (await p.client.uploadCode(await packDirectory(writeFunction(files)))).digest;
}

test('npm dependencies from package.json are installed at build time', async () => {
  await deployFunction(p.client, 'with-deps', {
    'package.json': JSON.stringify({ name: 'with-deps', type: 'module', dependencies: { greet: 'file:./vendor/greet' } }),
    'vendor/greet/package.json': JSON.stringify({ name: 'greet', version: '1.0.0', main: 'index.js' }),
    'vendor/greet/index.js': 'module.exports = (who) => `hi ${who}`;',
    'handler.js': "import greet from 'greet';\nexport default async (req) => greet(await req.text());",
  });
  assert.equal(await (await fetch(`${p.url}/function/with-deps`, { method: 'POST', body: 'deps' })).text(), 'hi deps');
  const log = await p.client.buildLog('with-deps');
  assert.match(log, /npm install --omit=dev/);
  assert.match(log, /build succeeded/);
});

test('a TypeScript handler is compiled', async () => {
  await deployFunction(p.client, 'typed', {
    'handler.ts': "import { shout } from './lib';\nexport default async (req: Request): Promise<string> => shout(await req.text());",
    'lib.ts': 'export const shout = (s: string): string => s.toUpperCase() + "!";',
  });
  assert.equal(await (await fetch(`${p.url}/function/typed`, { method: 'POST', body: 'types' })).text(), 'TYPES!');
});

test('an unchanged function is not rebuilt', async () => {
  const code = await upload({ 'handler.js': 'export default () => "same";' });
  const first = await p.client.build({ service: 'same', runtime: 'node', code });
  const second = await p.client.build({ service: 'same', runtime: 'node', code });
  assert.equal(first.key, second.key);
  assert.equal(second.cached, true);
});

test('a handler without an entry point is refused, naming the file and the signature; nothing is deployed', async () => {
  const code = await upload({ 'handler.js': 'export const notTheHandler = 1;' });
  await assert.rejects(p.client.createFunction({ service: 'no-entry', runtime: 'node', code }), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'KSS_INVALID_HANDLER');
    assert.match(err.message, /handler\.js/);
    assert.match(err.message, /export default async \(req\)/);
    assert.doesNotMatch(err.message, /\/tmp\/|\/code\/trees\//, 'no internal paths');
    return true;
  });
  assert.ok(!(await p.client.listFunctions()).some((f) => f.name === 'no-entry'));
  const empty = await upload({ 'README.md': 'no code here' });
  await assert.rejects(p.client.createFunction({ service: 'no-entry', runtime: 'node', code: empty }), (err: unknown) => err instanceof ApiError && err.code === 'KSS_INVALID_HANDLER' && /handler\.js/.test(err.message));
});

test('a compile error fails the build with file and line; the previous version keeps serving', async () => {
  await deployFunction(p.client, 'evolving', { 'handler.ts': 'export default async (): Promise<string> => "v1";' });
  const broken = await upload({ 'handler.ts': 'export default async (): Promise<string> => {\n  return "v2"\n  const = ;\n};' });
  await assert.rejects(p.client.updateFunction({ service: 'evolving', runtime: 'node', code: broken }), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 422);
    assert.equal(err.code, 'KSS_BUILD_FAILED');
    assert.match(err.message, /handler\.ts:3:\d+/);
    return true;
  });
  assert.equal(await (await fetch(`${p.url}/function/evolving`)).text(), 'v1');
  assert.equal((await p.client.getFunction('evolving')).code !== broken, true);
  const badDeps = await upload({ 'package.json': '{"dependencies": {"x": "file:./missing.tgz"}}', 'handler.js': 'export default () => 1;' });
  await assert.rejects(p.client.updateFunction({ service: 'evolving', runtime: 'node', code: badDeps }), (err: unknown) => err instanceof ApiError && err.code === 'KSS_BUILD_FAILED' && /npm install failed/.test(err.message));
  assert.equal(await (await fetch(`${p.url}/function/evolving`)).text(), 'v1');
});
