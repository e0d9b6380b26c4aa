/** Launchers of the go, exec and http runtimes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { FunctionSpec } from '../../core/index.js';
import { execLauncher, execSimpleCommand, goLauncher, httpLauncher } from './command-launchers.js';

const spec = (extra: Partial<FunctionSpec> = {}): FunctionSpec => ({ service: 'fn', namespace: 'openfaas-fn', image: 'x', runtime: 'exec', timeout: 30, ...extra });

test('a simple http command is exec-ed; shell syntax is left as written', () => {
  assert.equal(execSimpleCommand('node server.mjs'), 'exec node server.mjs');
  assert.equal(execSimpleCommand('  python3 -m http.server $PORT'), 'exec python3 -m http.server $PORT');
  assert.equal(execSimpleCommand('NODE_ENV=production DEBUG="a b" node app.js'), 'NODE_ENV=production DEBUG="a b" exec node app.js');
  for (const compound of ['cd app && node x', 'node a; node b', 'exec node x', 'node x > log', 'if true; then x; fi', 'echo $(date)', 'A=1']) {
    assert.equal(execSimpleCommand(compound), compound);
  }
});

test('the http launcher runs the server as the replica process itself (SIGTERM reaches it)', async () => {
  const launch = httpLauncher(spec({ runtime: 'http', envProcess: 'sleep 5' }), { dir: '/' }, 10_000);
  const child = spawn(launch.command, launch.args, { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  assert.match(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8'), /^sleep\0/, 'sh replaced itself with the command');
  child.kill('SIGTERM');
  assert.equal(await new Promise((r) => child.once('exit', (_code, signal) => r(signal))), 'SIGTERM');
});

test('exec gets fprocess and, unless the function sets one, exec_timeout = its timeout; go runs the binary', () => {
  const exec = execLauncher(spec({ envProcess: 'wc -l' }), { dir: '/a' }, 10_000);
  assert.equal(exec.env.fprocess, 'wc -l');
  assert.equal(exec.env.exec_timeout, '30s');
  assert.equal(exec.env.KSS_GRACE_MS, '9500');
  assert.equal(execLauncher(spec({ envProcess: 'cat', envVars: { exec_timeout: '2s' } }), { dir: '/a' }, 10_000).env.exec_timeout, undefined, "the function's own value stays");
  assert.equal(goLauncher(spec({ runtime: 'go' }), { dir: '/builds/key' }, 10_000).command, '/builds/key/kss-function');
});
