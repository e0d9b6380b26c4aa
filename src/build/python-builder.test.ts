/**
 * Python builds, over the real platform: the handler check (syntax errors with file
 * and line, a missing `handle`), requirements.txt when the package index cannot be
 * reached (PyPI is unreachable from this machine, and the package is made up, so
 * the install can never succeed), a local wheel installed by pip, and vendored
 * modules imported by the handler.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packDirectory } from '../archive/index.js';
import { ApiError } from '../client/index.js';
import { deployFunction, startTestPlatform, writeFunction, type TestPlatform } from '../../test/helpers.js';
import { pythonInterpreter } from './python-interpreter.js';
import { hasRequirements, handlerEntry } from './python-builder.js';

const NO_INTERNAL_PATHS = /\/tmp\/|\/code\/trees\/|\/builds\//;

describe('python builder', () => {
  let p: TestPlatform;

  before(async () => {
    p = await startTestPlatform();
  });
  after(async () => {
    await p?.close();
  });

  async function upload(files: Record<string, string | Buffer>): Promise<string> {
    const dir = writeFunction(files);
    try {
      return (await p.client.uploadCode(await packDirectory(dir))).digest;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async function refusal(name: string, files: Record<string, string | Buffer>, spec: Record<string, unknown> = {}): Promise<ApiError> {
    const code = await upload(files);
    try {
      await p.client.createFunction({ service: name, runtime: 'python', code, ...spec });
    } catch (err) {
      assert.ok(err instanceof ApiError, String(err));
      assert.ok(!(await p.client.listFunctions()).some((f) => f.name === name), 'nothing is deployed');
      return err;
    }
    assert.fail(`${name} was deployed`);
  }

  test('a syntax error fails the build with the file, the line and the message', async () => {
    const err = await refusal('py-syntax', { 'handler.py': 'import json\n\ndef handle(event, context)\n    return "x"\n' });
    assert.equal(err.status, 422);
    assert.equal(err.code, 'KSS_BUILD_FAILED');
    assert.match(err.message, /handler\.py:3:\d+: SyntaxError: expected ':'/);
    assert.match(err.message, /def handle\(event, context\)\n\s+\^/);
    assert.doesNotMatch(err.message, NO_INTERNAL_PATHS);
    const indent = await refusal('py-indent', { 'main.py': 'def handle(event, context):\nreturn 1\n' }, { handler: 'main.py' });
    assert.equal(indent.code, 'KSS_BUILD_FAILED');
    assert.match(indent.message, /main\.py:2:\d+: IndentationError/);
  });

  test('a handler without handle() is refused, naming the file and the expected signature', async () => {
    const err = await refusal('py-nohandle', { 'handler.py': 'def handler(event, context):\n    return "typo"\n' });
    assert.equal(err.status, 400);
    assert.equal(err.code, 'KSS_INVALID_HANDLER');
    assert.match(err.message, /handler\.py has no top-level function "handle"/);
    assert.match(err.message, /def handle\(event, context\)/);
    assert.doesNotMatch(err.message, NO_INTERNAL_PATHS);
    const noParams = await refusal('py-noparams', { 'handler.py': 'def handle():\n    return "x"\n' });
    assert.equal(noParams.code, 'KSS_INVALID_HANDLER');
    assert.match(noParams.message, /handle\(\) in handler\.py \(line 1\) takes no parameters/);
    const missing = await refusal('py-nofile', { 'main.py': 'def handle(event, context):\n    return "x"\n' });
    assert.equal(missing.code, 'KSS_INVALID_HANDLER');
    assert.match(missing.message, /no handler\.py in the function folder/);
  });

  test('requirements.txt with the package index unreachable fails with a clear message suggesting vendoring', async () => {
    const err = await refusal('py-offline', {
      'handler.py': 'def handle(event, context):\n    return "x"\n',
      'requirements.txt': '# made up: it exists on no index, so this can never succeed\nkss-made-up-package-zz9==1.0\n',
    });
    assert.equal(err.status, 422);
    assert.equal(err.code, 'KSS_BUILD_FAILED');
    assert.match(err.message, /kss-made-up-package-zz9/);
    assert.match(err.message, /package index is unreachable/);
    assert.match(err.message, /[Vv]endor/);
    assert.doesNotMatch(err.message, NO_INTERNAL_PATHS);
  });

  test('a module the handler imports but nobody provides fails the build, not the replica', async () => {
    const err = await refusal('py-missing-module', {
      'handler.py': 'import json\nimport kss_not_installed_anywhere\ntry:\n    import optional_kss_module\nexcept ImportError:\n    optional_kss_module = None\n\ndef handle(event, context):\n    return "x"\n',
    });
    assert.equal(err.code, 'KSS_BUILD_FAILED');
    assert.match(err.message, /"kss_not_installed_anywhere" \(handler\.py:2\)/);
    assert.doesNotMatch(err.message, /optional_kss_module/, 'guarded imports are optional');
    assert.match(err.message, /requirements\.txt/);
  });

  test('vendored pure-Python modules (beside the handler and in .python_packages) are imported', async () => {
    await deployFunction(p.client, 'py-vendored', {
      'handler.py': 'import greetlib\nfrom titlecase_vendored import titled\n\ndef handle(event, context):\n    return greetlib.greet(titled(event.text or "world"))\n',
      'greetlib/__init__.py': 'def greet(who):\n    return f"Hello, {who}!"\n',
      '.python_packages/titlecase_vendored.py': 'def titled(s):\n    return s.title()\n',
      'requirements.txt': '# nothing to install: the dependencies are vendored\n',
    }, { runtime: 'python' });
    const res = await fetch(`${p.url}/function/py-vendored`, { method: 'POST', body: 'ada lovelace' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello, Ada Lovelace!');
  });

  test('a requirement pip can install without an index (a local wheel) lands in .python_packages', async () => {
    await deployFunction(p.client, 'py-wheel', {
      'handler.py': 'import wheelgreet\n\ndef handle(event, context):\n    return wheelgreet.greet(event.text)\n',
      'requirements.txt': './wheels/wheelgreet-1.0-py3-none-any.whl\n',
      'wheels/wheelgreet-1.0-py3-none-any.whl': makeWheel(),
    }, { runtime: 'python' });
    assert.equal(await (await fetch(`${p.url}/function/py-wheel`, { method: 'POST', body: 'pip' })).text(), 'wheel says hi to pip');
    const log = await p.client.buildLog('py-wheel');
    assert.match(log, /pip install/);
    assert.match(log, /Successfully installed wheelgreet-1\.0/);
  });

  test('the python template says hello', async () => {
    const template = (f: string) => readFileSync(new URL(`../../../templates/python/${f}`, import.meta.url), 'utf8').replaceAll('{{name}}', 'py-hello');
    await deployFunction(p.client, 'py-hello', { 'handler.py': template('handler.py'), 'requirements.txt': template('requirements.txt') }, { runtime: 'python' });
    assert.equal(await (await fetch(`${p.url}/function/py-hello`)).text(), 'Hello, world!\n');
    assert.equal(await (await fetch(`${p.url}/function/py-hello`, { method: 'POST', body: 'Ada' })).text(), 'Hello, Ada!\n');
  });
});

describe('python builder helpers', () => {
  test('hasRequirements ignores comments, blank lines and bare options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kss-req-'));
    const file = join(dir, 'requirements.txt');
    try {
      assert.equal(hasRequirements(file), false, 'no file');
      for (const [text, expected] of [
        ['', false],
        ['# only a comment\n\n   \n', false],
        ['--index-url https://example.org/simple\n', false],
        ['requests==2.31 # pinned\n', true],
        ['-r more.txt\n', true],
        ['  flask\n', true],
      ] as const) {
        writeFileSync(file, text);
        assert.equal(hasRequirements(file), expected, JSON.stringify(text));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('handlerEntry follows the runtime: a file, a folder holding handler.py, or handler.py', () => {
    const dir = writeFunction({ 'handler.py': '', 'fn/handler.py': '', 'other.py': '' });
    try {
      assert.equal(handlerEntry(dir, undefined), 'handler.py');
      assert.equal(handlerEntry(dir, 'other.py'), 'other.py');
      assert.equal(handlerEntry(dir, './fn'), 'fn/handler.py');
      assert.throws(() => handlerEntry(dir, 'nope.py'), /handler file nope\.py does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('python3 is resolved to the real interpreter (not a version manager shim)', () => {
    const python = pythonInterpreter();
    assert.match(python, /^\//);
    const r = spawnSync(python, ['-S', '-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), python);
  });
});

/** A minimal pure-Python wheel (a zip with the module and its dist-info), made with Python's zipfile. */
function makeWheel(): Buffer {
  const script = `
import io, sys, zipfile
files = {
    'wheelgreet/__init__.py': 'def greet(who):\\n    return "wheel says hi to " + who\\n',
    'wheelgreet-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\\nName: wheelgreet\\nVersion: 1.0\\n',
    'wheelgreet-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\\nGenerator: kss-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',
}
files['wheelgreet-1.0.dist-info/RECORD'] = ''.join(name + ',,\\n' for name in list(files) + ['wheelgreet-1.0.dist-info/RECORD'])
buf = io.BytesIO()
with zipfile.ZipFile(buf, 'w') as z:
    for name, text in files.items():
        z.writestr(name, text)
sys.stdout.buffer.write(buf.getvalue())
`;
  const r = spawnSync(pythonInterpreter(), ['-c', script], { maxBuffer: 1 << 20 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}
