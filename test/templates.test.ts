/**
 * Every template in templates/ is a working hello world: `kss new` it, deploy the
 * stack file it wrote, and call it. New templates are picked up automatically.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableTemplates } from '../src/cli/commands/new.js';
import { readStackFile } from '../src/cli/stack-file.js';
import { packDirectory } from '../src/archive/index.js';
import { startTestPlatform, tempDir, type TestPlatform } from './helpers.js';

const KSS = fileURLToPath(new URL('../../bin/kss.js', import.meta.url));
let p: TestPlatform;

before(async () => {
  p = await startTestPlatform();
});
after(async () => {
  await p.close();
});

for (const lang of availableTemplates()) {
  test(`template ${lang}: kss new → deploy → "Hello, world!"`, async () => {
    const dir = tempDir(`kss-tpl-${lang}-`);
    const name = `hello-${lang}`;
    const created = spawnSync(process.execPath, [KSS, 'new', name, '--lang', lang], { cwd: dir, encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    const stack = readStackFile(join(dir, 'stack.yml'));
    const fn = stack.functions.find((f) => f.name === name)!;
    assert.ok(fn, 'the stack file names the function');
    const spec: Record<string, unknown> & { service: string } = { ...fn.spec, service: name };
    if (fn.codeDir) spec.code = (await p.client.uploadCode(await packDirectory(fn.codeDir))).digest;
    await p.client.deploy(spec);
    await p.client.waitReady(name, { timeoutMs: 60_000 });
    const world = await fetch(`${p.url}/function/${name}`, { method: 'POST' });
    assert.equal(world.status, 200);
    assert.equal(await world.text(), 'Hello, world!\n');
    const you = await fetch(`${p.url}/function/${name}`, { method: 'POST', body: 'you' });
    assert.equal(await you.text(), 'Hello, you!\n');
  });
}
