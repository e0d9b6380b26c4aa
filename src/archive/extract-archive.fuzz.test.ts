/**
 * Property-based fuzzing of archive extraction: mutated and random archives either
 * extract inside their folder or fail with KSS_INVALID_ARCHIVE, writing nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { isKssError } from '../core/index.js';
import { extractArchive } from './extract-archive.js';
import { packDirectory } from './pack-directory.js';

const RUNS = Number(process.env.KSS_FUZZ_RUNS ?? (process.env.CI ? 3_000 : 1_000));

test(`archive fuzzing (${RUNS} cases): extract inside the folder or KSS_INVALID_ARCHIVE with nothing written`, async () => {
  const src = mkdtempSync(join(tmpdir(), 'kss-arcfuzz-src-'));
  mkdirSync(join(src, 'lib'));
  writeFileSync(join(src, 'handler.js'), 'export default () => 1');
  writeFileSync(join(src, 'lib', 'util.js'), 'module.exports = 2');
  const valid = gunzipSync(await packDirectory(src));
  const root = mkdtempSync(join(tmpdir(), 'kss-arcfuzz-'));
  let i = 0;
  const mutation = fc.oneof(
    // Flip bytes anywhere in the tar stream (headers included), then gzip again.
    fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
      const t = Buffer.from(valid);
      for (const [at, b] of flips) t[at] = b;
      return gzipSync(t);
    }),
    // Overwrite a header's name field with a hostile path.
    fc.constantFrom('../x', '/abs', 'a/../../b', 'a\\..\\b', 'C:/x', 'ok/\0bad').map((name) => {
      const t = Buffer.from(valid);
      t.fill(0, 0, 100);
      t.write(name, 0);
      return gzipSync(t);
    }),
    fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
    fc.uint8Array({ maxLength: 2048 }).map((b) => gzipSync(Buffer.from(b))),
    fc.nat({ max: valid.length }).map((n) => gzipSync(valid.subarray(0, n))),
  );
  await fc.assert(
    fc.asyncProperty(mutation, async (archive) => {
      const dest = join(root, `t${i++}`);
      try {
        await extractArchive(archive, dest);
        assert.ok(existsSync(dest));
      } catch (err) {
        assert.ok(isKssError(err), `not a catalogue error: ${String(err)}`);
        assert.equal(err.code, 'KSS_INVALID_ARCHIVE');
        assert.ok(!existsSync(dest), 'nothing written on rejection');
      }
      // Nothing ever lands beside the destinations, and no temp dir is left.
      assert.deepEqual(readdirSync(root).filter((n) => !/^t\d+$/.test(n)), []);
    }),
    { numRuns: RUNS },
  );
});
