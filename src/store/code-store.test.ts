import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isKssError } from '../core/errors.js';
import { packDirectory, removeExtractedTree } from '../archive/index.js';
import { createCodeStore, isCodeDigest } from './code-store.js';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await removeExtractedTree(root);
});

async function scratch(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kss-code-'));
  roots.push(root);
  return root;
}

async function sampleArchive(root: string, text = 'hello'): Promise<Buffer> {
  const dir = join(root, `fn-${text}`);
  await mkdir(join(dir, 'lib'), { recursive: true });
  await writeFile(join(dir, 'handler.js'), `export default () => ${JSON.stringify(text)};\n`);
  await writeFile(join(dir, 'lib/util.js'), 'export const x = 1;\n');
  await writeFile(join(dir, 'run.sh'), '#!/bin/sh\n');
  await chmod(join(dir, 'run.sh'), 0o755);
  await symlink('lib/util.js', join(dir, 'util.js'));
  return packDirectory(dir);
}

/** A gzip'd tar with one entry whose path escapes (built by hand: ustar header + checksum). */
function escapingArchive(): Buffer {
  const header = Buffer.alloc(512);
  header.write('../../evil.sh', 0, 'utf8');
  header.write('0000644\0', 100, 'latin1');
  header.write('0000000\0', 108, 'latin1');
  header.write('0000000\0', 116, 'latin1');
  header.write('00000000001\0', 124, 'latin1');
  header.write('00000000000\0', 136, 'latin1');
  header.write('0', 156, 'latin1');
  header.write('ustar\0' + '00', 257, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const data = Buffer.alloc(512);
  data.write('x');
  return gzipSync(Buffer.concat([header, data, Buffer.alloc(1024)]));
}

function assertCode(code: string, status: number) {
  return (err: unknown): boolean => {
    assert.ok(isKssError(err), `expected a KssError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.status, status);
    return true;
  };
}

describe('createCodeStore', () => {
  it('stores an archive under its sha256 digest, with a read-only extracted tree', async () => {
    const root = await scratch();
    const archive = await sampleArchive(root);
    const store = createCodeStore({ dir: join(root, 'code') });
    const put = await store.put(archive);

    const hex = createHash('sha256').update(archive).digest('hex');
    assert.deepEqual(put, { digest: `sha256:${hex}`, size: archive.length, files: 4 });
    assert.ok(isCodeDigest(put.digest));
    assert.ok(store.has(put.digest));
    assert.deepEqual(await store.read(put.digest), archive);

    const tree = store.treePath(put.digest);
    assert.equal(tree, join(root, 'code', 'trees', hex));
    assert.equal(await readFile(join(tree, 'handler.js'), 'utf8'), 'export default () => "hello";\n');
    assert.equal(await readlink(join(tree, 'util.js')), 'lib/util.js');
    assert.equal((await stat(join(tree, 'handler.js'))).mode & 0o7777, 0o444);
    assert.equal((await stat(join(tree, 'run.sh'))).mode & 0o7777, 0o555);
    assert.equal((await stat(join(tree, 'lib'))).mode & 0o7777, 0o555);
    assert.equal((await stat(tree)).mode & 0o7777, 0o555);
    assert.deepEqual(await readdir(join(root, 'code', 'archives')), [`${hex}.tar.gz`]);
    assert.deepEqual(await treeEntries(root), [hex]);
  });

  it('is idempotent for the same bytes, also concurrently, and keeps different code apart', async () => {
    const root = await scratch();
    const archive = await sampleArchive(root);
    const store = createCodeStore({ dir: join(root, 'code') });
    const results = await Promise.all([store.put(archive), store.put(archive), store.put(Buffer.from(archive))]);
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
    assert.deepEqual(await store.put(archive), results[0]);
    const other = await store.put(await sampleArchive(root, 'other'));
    assert.notEqual(other.digest, results[0].digest);
    assert.equal((await treeEntries(root)).length, 2, 'no temp dirs left behind');
    assert.equal((await readdir(join(root, 'code', 'archives'))).length, 2, 'no temp files left behind');

    // A second store over the same folder (a restart) sees the code.
    const reopened = createCodeStore({ dir: join(root, 'code') });
    assert.ok(reopened.has(results[0].digest));
    assert.equal(reopened.treePath(other.digest), store.treePath(other.digest));
  });

  it('rejects an oversized archive with KSS_PAYLOAD_TOO_LARGE', async () => {
    const root = await scratch();
    const archive = await sampleArchive(root);
    const store = createCodeStore({ dir: join(root, 'code'), maxArchiveBytes: archive.length - 1 });
    await assert.rejects(store.put(archive), assertCode('KSS_PAYLOAD_TOO_LARGE', 413));
    const exact = createCodeStore({ dir: join(root, 'code2'), maxArchiveBytes: archive.length });
    assert.equal((await exact.put(archive)).size, archive.length);
  });

  it('rejects unsafe or corrupt archives with KSS_INVALID_ARCHIVE and stores nothing', async () => {
    const root = await scratch();
    const store = createCodeStore({ dir: join(root, 'code') });
    await assert.rejects(store.put(escapingArchive()), (err: unknown) => {
      assertCode('KSS_INVALID_ARCHIVE', 400)(err);
      assert.match((err as Error).message, /"\.\.\/\.\.\/evil\.sh" contains a '\.\.' segment/);
      return true;
    });
    await assert.rejects(store.put(Buffer.from('PK\u0003\u0004 a zip file')), assertCode('KSS_INVALID_ARCHIVE', 400));
    await assert.rejects(store.put(Buffer.alloc(0)), assertCode('KSS_INVALID_ARCHIVE', 400));
    const digest = `sha256:${createHash('sha256').update(escapingArchive()).digest('hex')}`;
    assert.equal(store.has(digest), false);
    assert.deepEqual(await treeEntries(root), []);
    assert.deepEqual(await readdir(join(root, 'code', 'archives')), []);
  });

  it('passes unpack limits through', async () => {
    const root = await scratch();
    const archive = await sampleArchive(root);
    await assert.rejects(createCodeStore({ dir: join(root, 'a'), maxEntries: 2 }).put(archive), assertCode('KSS_INVALID_ARCHIVE', 400));
    await assert.rejects(createCodeStore({ dir: join(root, 'b'), maxUnpackedBytes: 10 }).put(archive), assertCode('KSS_INVALID_ARCHIVE', 400));
  });

  it('answers KSS_CODE_NOT_FOUND for unknown or malformed digests without touching the disk', async () => {
    const root = await scratch();
    const store = createCodeStore({ dir: join(root, 'code') });
    const unknown = `sha256:${'0'.repeat(64)}`;
    const malformed = [
      '',
      'sha256:',
      `sha256:${'A'.repeat(64)}`,
      `sha1:${'0'.repeat(40)}`,
      `sha256:${'0'.repeat(63)}`,
      `sha256:../../${'0'.repeat(58)}`,
      `sha256:${'0'.repeat(64)}/../x`,
      `sha256:${'0'.repeat(64)}\n`,
    ];
    assert.equal(store.has(unknown), false);
    assert.throws(() => store.treePath(unknown), assertCode('KSS_CODE_NOT_FOUND', 404));
    await assert.rejects(store.read(unknown), assertCode('KSS_CODE_NOT_FOUND', 404));
    for (const digest of malformed) {
      assert.equal(store.has(digest), false, digest);
      assert.throws(() => store.treePath(digest), (err: unknown) => {
        assertCode('KSS_CODE_NOT_FOUND', 404)(err);
        assert.match((err as Error).message, /sha256:<64 lowercase hex digits>/);
        return true;
      });
      await assert.rejects(store.read(digest), assertCode('KSS_CODE_NOT_FOUND', 404));
    }
    assert.equal(isCodeDigest(unknown), true);
    assert.equal(isCodeDigest(42), false);
  });
});

/** Entries of `trees/` other than the package.json boundary the store writes there. */
async function treeEntries(root: string): Promise<string[]> {
  return (await readdir(join(root, 'code', 'trees'))).filter((n) => n !== 'package.json');
}
