/** The exec and http builders: nothing to compile, but the command is checked at deploy. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KssError, type FunctionSpec } from '../core/index.js';
import { ExecBuilder, HttpBuilder } from './exec-builder.js';
import type { RuntimeBuilder } from './builder.js';

const dir = mkdtempSync(join(tmpdir(), 'kss-exec-build-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'handler.sh'), '#!/bin/sh\ncat\n');
chmodSync(join(dir, 'handler.sh'), 0o755);
writeFileSync(join(dir, 'plain.sh'), 'cat\n');

async function build(builder: RuntimeBuilder, spec: Partial<FunctionSpec>, hasCode = true) {
  return builder.build({
    spec: { service: 'fn', namespace: 'openfaas-fn', image: 'x', runtime: builder.runtime, timeout: 60, ...(hasCode ? { code: `sha256:${'0'.repeat(64)}` } : {}), ...spec },
    sourceDir: dir,
    outDir: join(dir, 'unused'),
    log: () => {},
    signal: new AbortController().signal,
  });
}

async function invalid(builder: RuntimeBuilder, spec: Partial<FunctionSpec>, pattern: RegExp, hasCode = true): Promise<void> {
  await assert.rejects(build(builder, spec, hasCode), (err: unknown) => {
    assert.ok(err instanceof KssError);
    assert.equal(err.code, 'KSS_INVALID_HANDLER');
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\/tmp\//, 'no internal paths');
    return true;
  });
}

test('exec and http run the source as it is', async () => {
  assert.deepEqual(await build(new ExecBuilder(), { envProcess: './handler.sh' }), { use: 'source' });
  assert.deepEqual(await build(new ExecBuilder(), { envProcess: 'wc -l' }), { use: 'source' });
  assert.deepEqual(await build(new ExecBuilder(), { envProcess: 'sh plain.sh' }), { use: 'source' });
  assert.deepEqual(await build(new HttpBuilder(), { envProcess: 'node server.mjs' }), { use: 'source' });
  // Shell syntax is left to the shell.
  assert.deepEqual(await build(new ExecBuilder(), { envProcess: 'cd sub && ./run' }), { use: 'source' });
  assert.deepEqual(await build(new ExecBuilder(), { envProcess: 'LC_ALL=C sort' }), { use: 'source' });
});

test('envProcess is required, and the message says how to set it', async () => {
  await invalid(new ExecBuilder(), {}, /envProcess.*fprocess: \.\/handler\.sh/);
  await invalid(new HttpBuilder(), {}, /envProcess.*fprocess: node server\.mjs/);
});

test('a script that is missing or not executable is named, relative to the folder', async () => {
  await invalid(new ExecBuilder(), { envProcess: './missing.sh' }, /missing\.sh is not in the function's folder/);
  await invalid(new ExecBuilder(), { envProcess: './plain.sh' }, /plain\.sh is not executable; run `chmod \+x plain\.sh`/);
  await invalid(new ExecBuilder(), { envProcess: './handler.sh' }, /has no code/, false);
});

test('a command that is not on PATH is refused', async () => {
  await invalid(new ExecBuilder(), { envProcess: 'figlet-not-installed-here' }, /"figlet-not-installed-here" is not a command on this machine's PATH/);
  await invalid(new ExecBuilder(), { envProcess: 'wc -l', envVars: { PATH: dir } }, /"wc" is not a command/);
});
