import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, cp, rm, lstat, mkdir, mkdtemp, readFile, readdir, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { isKssError } from '../core/errors.js';
import { extractArchive, packDirectory, removeExtractedTree } from './index.js';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await removeExtractedTree(root);
});

async function scratch(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kss-pack-'));
  roots.push(root);
  return root;
}

const binary = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919 + (i >> 8)) % 256));
const longDir = `${'deep-folder-name-'.repeat(8)}/${'another-very-long-segment-'.repeat(6)}`;

/** A function folder with a bit of everything, plus things that must be left out. */
async function makeFunctionFolder(root: string): Promise<string> {
  const dir = join(root, 'fn');
  await mkdir(join(dir, 'lib/nested'), { recursive: true });
  await writeFile(join(dir, 'handler.js'), 'export default async () => "hello";\n');
  await writeFile(join(dir, 'lib/nested/data.bin'), binary);
  await writeFile(join(dir, 'lib/empty.txt'), '');
  await writeFile(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(dir, 'run.sh'), 0o700);
  await writeFile(join(dir, 'private.txt'), 'secret-ish');
  await chmod(join(dir, 'private.txt'), 0o600);
  await writeFile(join(dir, 'ünïcödé.txt'), 'unicode');
  await mkdir(join(dir, longDir), { recursive: true });
  await writeFile(join(dir, longDir, 'file.txt'), 'long path');
  await mkdir(join(dir, 'empty-dir'));
  await symlink('lib/nested/data.bin', join(dir, 'data-link'));
  await symlink('nested', join(dir, 'lib/dir-link'));
  await symlink(join(dir, 'handler.js'), join(dir, 'lib/absolute-inside'));
  // Left out by default, or by the exclude option.
  await mkdir(join(dir, '.git/objects'), { recursive: true });
  await writeFile(join(dir, '.git/HEAD'), 'ref: refs/heads/main\n');
  await mkdir(join(dir, '.kss'));
  await writeFile(join(dir, '.kss/state.db'), 'x');
  await mkdir(join(dir, 'node_modules/.cache/x'), { recursive: true });
  await writeFile(join(dir, 'node_modules/.cache/x/big'), 'cache');
  await writeFile(join(dir, 'node_modules/kept.js'), 'kept');
  await writeFile(join(dir, 'debug.log'), 'log');
  await mkdir(join(dir, 'build/tmp'), { recursive: true });
  await writeFile(join(dir, 'build/tmp/a'), 'a');
  await writeFile(join(dir, 'build/keep'), 'keep');
  return dir;
}

const EXCLUDE = ['*.log', 'build/tmp'];

describe('packDirectory', () => {
  it('round-trips through extractArchive: files, folders, binary data, modes, symlinks', async () => {
    const root = await scratch();
    const dir = await makeFunctionFolder(root);
    const archive = await packDirectory(dir, { exclude: EXCLUDE });
    const out = join(root, 'out');
    const result = await extractArchive(archive, out);

    assert.equal(await readFile(join(out, 'handler.js'), 'utf8'), 'export default async () => "hello";\n');
    assert.deepEqual(await readFile(join(out, 'lib/nested/data.bin')), binary);
    assert.equal(await readFile(join(out, 'lib/empty.txt'), 'utf8'), '');
    assert.equal(await readFile(join(out, 'ünïcödé.txt'), 'utf8'), 'unicode');
    assert.equal(await readFile(join(out, longDir, 'file.txt'), 'utf8'), 'long path');
    assert.ok((await stat(join(out, 'empty-dir'))).isDirectory());
    assert.equal((await stat(join(out, 'run.sh'))).mode & 0o777, 0o755);
    assert.equal((await stat(join(out, 'private.txt'))).mode & 0o777, 0o644);
    assert.equal(await readlink(join(out, 'data-link')), 'lib/nested/data.bin');
    assert.equal(await readlink(join(out, 'lib/dir-link')), 'nested');
    assert.equal(await readlink(join(out, 'lib/absolute-inside')), '../handler.js', 'absolute link inside is made relative');
    assert.deepEqual(await readFile(join(out, 'data-link')), binary);
    assert.deepEqual(await readdir(join(out, 'lib/dir-link')), ['data.bin']);

    // Excluded: defaults and the option.
    const top = await readdir(out);
    for (const gone of ['.git', '.kss', 'debug.log']) assert.ok(!top.includes(gone), `${gone} must be excluded`);
    assert.deepEqual(await readdir(join(out, 'node_modules')), ['kept.js']);
    assert.deepEqual(await readdir(join(out, 'build')), ['keep']);

    const files = ['handler.js', 'lib/nested/data.bin', 'lib/empty.txt', 'run.sh', 'private.txt', 'ünïcödé.txt', 'long/file.txt',
      'data-link', 'lib/dir-link', 'lib/absolute-inside', 'node_modules/kept.js', 'build/keep'];
    assert.equal(result.files, files.length);
  });

  it('is deterministic: same files give the same bytes, whatever the mtimes, owners or location', async () => {
    const root = await scratch();
    const dir = await makeFunctionFolder(root);
    const first = await packDirectory(dir, { exclude: EXCLUDE });
    const second = await packDirectory(dir, { exclude: EXCLUDE });
    assert.deepEqual(first, second);

    const later = new Date('2031-05-06T07:08:09Z');
    for (const path of ['handler.js', 'lib/nested/data.bin', 'lib', '.', longDir]) await utimes(join(dir, path), later, later);
    await chmod(join(dir, 'handler.js'), 0o664); // group-write is not kept
    const touched = await packDirectory(dir, { exclude: EXCLUDE });
    assert.deepEqual(touched, first);

    const copy = join(root, 'elsewhere', 'fn-copy');
    await cp(dir, copy, { recursive: true, verbatimSymlinks: true });
    await rm(join(copy, 'lib/absolute-inside'));
    await symlink(join(copy, 'handler.js'), join(copy, 'lib/absolute-inside'));
    const a = await packDirectory(dir, { exclude: EXCLUDE });
    const b = await packDirectory(copy, { exclude: ['build/tmp', '*.log'] });
    assert.equal(createHash('sha256').update(a).digest('hex'), createHash('sha256').update(b).digest('hex'));

    // A real change changes the bytes.
    await chmod(join(dir, 'private.txt'), 0o700);
    assert.notDeepEqual(await packDirectory(dir, { exclude: EXCLUDE }), a);
  });

  it('writes a standard tar that other tools read (node-tar)', async () => {
    const root = await scratch();
    const dir = await makeFunctionFolder(root);
    const archive = await packDirectory(dir, { exclude: EXCLUDE });
    const seen = new Map<string, { type: string; mtime?: Date; uid?: number; mode?: number }>();
    await pipeline(Readable.from([archive]), tar.t({
      onReadEntry: (entry) => {
        seen.set(entry.path, { type: entry.type, mtime: entry.mtime, uid: entry.uid, mode: entry.mode });
      },
    }));
    assert.equal(seen.get('handler.js')?.type, 'File');
    assert.equal(seen.get('lib/')?.type, 'Directory');
    assert.equal(seen.get('data-link')?.type, 'SymbolicLink');
    assert.equal(seen.get(`${longDir}/file.txt`)?.type, 'File');
    assert.equal(seen.get('run.sh')?.mode, 0o755);
    assert.equal(seen.get('handler.js')?.uid, 0);
    assert.equal(seen.get('handler.js')?.mtime?.getTime(), 0);
    const names = [...seen.keys()];
    assert.ok(names.indexOf('handler.js') < names.indexOf('lib/'), 'entries are sorted');
  });

  it('extracts archives made by node-tar', async () => {
    const root = await scratch();
    const dir = await makeFunctionFolder(root);
    const chunks: Buffer[] = [];
    const filter = (path: string): boolean => !path.endsWith('absolute-inside');
    await pipeline(tar.c({ gzip: true, cwd: dir, portable: true, filter }, ['handler.js', 'lib', 'run.sh']), async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) chunks.push(chunk);
    });
    const out = join(root, 'out');
    await extractArchive(Buffer.concat(chunks), out);
    assert.deepEqual(await readFile(join(out, 'lib/nested/data.bin')), binary);
    assert.equal(await readlink(join(out, 'lib/dir-link')), 'nested');
    assert.equal((await stat(join(out, 'run.sh'))).mode & 0o777, 0o755);
  });

  it('fails on a symlink pointing outside the folder, naming the link', async () => {
    const root = await scratch();
    const dir = join(root, 'fn');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'ok.js'), '');
    await symlink('../../outside.txt', join(dir, 'sub/escape'));
    await assert.rejects(packDirectory(dir), (err: unknown) => {
      assert.ok(isKssError(err));
      assert.equal(err.code, 'KSS_INVALID_ARCHIVE');
      assert.match(err.message, /symlink "sub\/escape": it points to "\.\.\/\.\.\/outside\.txt", outside the folder/);
      return true;
    });

    const dir2 = join(root, 'fn2');
    await mkdir(dir2);
    await symlink('/etc/passwd', join(dir2, 'passwd'));
    await assert.rejects(packDirectory(dir2), /symlink "passwd": it points to "\/etc\/passwd", outside the folder/);

    // Excluding the link makes the folder packable.
    const archive = await packDirectory(dir2, { exclude: ['passwd'] });
    assert.deepEqual(await extractArchive(archive, join(root, 'out2')), { files: 0, bytes: 0 });
  });

  it('fails on a chain of links that escapes, and on a folder that does not exist', async () => {
    const root = await scratch();
    const dir = join(root, 'fn');
    await mkdir(join(dir, 'a/b'), { recursive: true });
    await symlink('../..', join(dir, 'a/b/s'));
    await symlink('s/../x', join(dir, 'a/b/t'));
    await assert.rejects(packDirectory(dir), /Cannot pack: Symlink "a\/b\/t"/);
    await assert.rejects(packDirectory(join(root, 'missing')), { code: 'KSS_BAD_REQUEST' });
  });

  it('packs an empty folder', async () => {
    const root = await scratch();
    const dir = join(root, 'fn');
    await mkdir(dir);
    const archive = await packDirectory(dir);
    assert.deepEqual(await extractArchive(archive, join(root, 'out')), { files: 0, bytes: 0 });
    assert.ok((await lstat(join(root, 'out'))).isDirectory());
  });
});
