/**
 * The Python launcher, and the Python runtime's own unit tests
 * (runtimes/python/test_server.py, standard library unittest) run from node's test runner.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseFunctionSpec } from '../../core/index.js';
import { PYTHON_RUNTIME_ENTRY, pythonLauncher } from './python-launcher.js';

test('the python launcher runs runtimes/python/server.py with the real interpreter', () => {
  const spec = parseFunctionSpec({ service: 'py', runtime: 'python', handler: 'main.py' });
  const launch = pythonLauncher(spec, { dir: '/srv/fn' }, 10_000);
  assert.ok(existsSync(PYTHON_RUNTIME_ENTRY), PYTHON_RUNTIME_ENTRY);
  assert.match(launch.command, /^\/.*python/, 'an absolute interpreter path: a pyenv shim would cost ~100 ms and not forward SIGTERM');
  assert.deepEqual(launch.args, ['-S', PYTHON_RUNTIME_ENTRY]);
  assert.deepEqual(launch.env, {
    KSS_CODE_DIR: '/srv/fn',
    KSS_HANDLER: 'main.py',
    KSS_GRACE_MS: '9500',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  });
});

test('the Python runtime unit tests pass', () => {
  const launch = pythonLauncher(parseFunctionSpec({ service: 'py', runtime: 'python' }), { dir: '.' }, 10_000);
  const r = spawnSync(launch.command, ['-m', 'unittest', 'discover', '-s', dirname(PYTHON_RUNTIME_ENTRY), '-p', 'test_*.py'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { PATH: process.env.PATH, PYTHONDONTWRITEBYTECODE: '1' },
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^OK/m);
});
