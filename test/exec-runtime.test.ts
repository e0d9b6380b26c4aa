/**
 * The exec runtime over the real platform: OpenFaaS' `faas-cli deploy --image
 * functions/alpine --fprocess 'wc -l'` (no code: the command runs from an empty
 * folder), an uploaded script with `fprocess: ./handler.sh`, and what stays refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { packDirectory } from '../src/archive/index.js';
import { ApiError } from '../src/client/index.js';
import { startTestPlatform, writeFunction, type TestPlatform } from './helpers.js';

let p: TestPlatform;

before(async () => {
  p = await startTestPlatform();
});
after(async () => {
  await p.close();
});

test("an image with envProcess and no code runs the command (faas-cli's functions/alpine pattern)", async () => {
  const res = await p.api('/system/functions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ service: 'wc', image: 'ghcr.io/openfaas/alpine:latest', envProcess: 'wc -l' }),
  });
  assert.equal(res.status, 202, await res.text());
  const status = await p.client.waitReady('wc', { timeoutMs: 20_000 });
  assert.equal(status.runtime, 'exec', 'no code and no runtime: exec');
  assert.equal(status.image, 'ghcr.io/openfaas/alpine:latest');
  const counted = await fetch(`${p.url}/function/wc`, { method: 'POST', body: 'one\ntwo\nthree\n' });
  assert.equal(counted.status, 200);
  assert.equal((await counted.text()).trim(), '3');

  // It comes back after a gateway restart like any other function.
  p = await p.restart();
  await p.client.waitReady('wc', { timeoutMs: 20_000 });
  assert.equal((await (await fetch(`${p.url}/function/wc`, { method: 'POST', body: 'a\nb\n' })).text()).trim(), '2');
});

test('an uploaded script runs per request with the Http_* environment', async () => {
  const dir = writeFunction({ 'handler.sh': '#!/bin/sh\nprintf "%s %s %s: " "$Http_Method" "$Http_Path" "$Http_X_Name"\ncat\n' });
  chmodSync(join(dir, 'handler.sh'), 0o755);
  const { digest } = await p.client.uploadCode(await packDirectory(dir));
  await p.client.deploy({ service: 'script', runtime: 'exec', code: digest, envProcess: './handler.sh' });
  await p.client.waitReady('script', { timeoutMs: 20_000 });
  const res = await fetch(`${p.url}/function/script/some/path`, { method: 'PUT', headers: { 'x-name': 'kss' }, body: 'body' });
  assert.equal(await res.text(), 'PUT /some/path kss: body');
});

test('without code, envProcess is required; other runtimes still need code', async () => {
  for (const spec of [
    { service: 'nothing', image: 'functions/alpine:latest' },
    { service: 'node-cmd', runtime: 'node', envProcess: 'cat' },
  ]) {
    await assert.rejects(p.client.createFunction(spec), (err: unknown) => err instanceof ApiError && err.code === 'KSS_CODE_REQUIRED');
  }
  await assert.rejects(
    p.client.createFunction({ service: 'no-cmd', runtime: 'exec', envProcess: 'figlet-not-installed' }),
    (err: unknown) => err instanceof ApiError && err.code === 'KSS_INVALID_HANDLER' && /not a command/.test(err.message),
  );
  assert.ok(!(await p.client.listFunctions()).some((f) => ['nothing', 'node-cmd', 'no-cmd'].includes(f.name)));
});
