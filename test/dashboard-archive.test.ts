/**
 * The dashboard packs code in the browser (dashboard/src/lib/tar-gzip.ts, ustar +
 * CompressionStream); the gateway must accept exactly what it makes. Node 20 has the
 * same CompressionStream, so the browser's packer runs here unchanged and its output
 * goes through the gateway's own archive validator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packFiles } from '../dashboard/src/lib/tar-gzip.js';
import { extractArchive } from '../src/archive/index.js';
import { tempDir } from './helpers.js';

test('what the dashboard packs, the gateway extracts byte for byte, modes included', async () => {
  const binary = randomBytes(3000);
  const long = `${'deep/'.repeat(25)}file.txt`;
  const archive = await packFiles([
    { path: 'handler.js', content: 'export default () => "héllo ✓"\n' },
    { path: 'lib/util.js', content: 'module.exports = 1;\n' },
    { path: 'run.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
    { path: 'data.bin', content: binary },
    { path: long, content: 'a path longer than 100 bytes (ustar prefix)' },
  ], { mtime: 0 });
  const dir = join(tempDir('kss-dash-archive-'), 'out');
  const result = await extractArchive(Buffer.from(archive), dir);
  assert.equal(result.files, 5);
  assert.equal(readFileSync(join(dir, 'handler.js'), 'utf8'), 'export default () => "héllo ✓"\n');
  assert.equal(readFileSync(join(dir, 'lib/util.js'), 'utf8'), 'module.exports = 1;\n');
  assert.ok(readFileSync(join(dir, 'data.bin')).equals(binary));
  assert.equal(readFileSync(join(dir, long), 'utf8'), 'a path longer than 100 bytes (ustar prefix)');
  assert.equal(statSync(join(dir, 'run.sh')).mode & 0o111, 0o111, 'the executable bit survives');
  assert.equal(statSync(join(dir, 'handler.js')).mode & 0o111, 0);
});

test('the same files in any order give the same bytes (so an unchanged redeploy reuses its build)', async () => {
  const a = await packFiles([{ path: 'b.js', content: 'b' }, { path: 'a.js', content: 'a' }], { mtime: 0 });
  const b = await packFiles([{ path: 'a.js', content: 'a' }, { path: 'b.js', content: 'b' }], { mtime: 0 });
  assert.deepEqual(Buffer.from(a), Buffer.from(b));
});

test('paths the gateway would refuse are refused before anything is sent', async () => {
  for (const path of ['../escape.js', '/etc/passwd', 'a\\b.js', '', 'x/../../y']) {
    await assert.rejects(packFiles([{ path, content: 'x' }]), Error, JSON.stringify(path));
  }
  await assert.rejects(packFiles([{ path: 'a.js', content: '1' }, { path: 'a.js', content: '2' }]), /a\.js/);
});
