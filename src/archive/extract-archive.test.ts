import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readdir, readlink, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isKssError } from '../core/errors.js';
import { extractArchive, removeExtractedTree } from './index.js';

// ---------------------------------------------------------------------------
// A raw tar builder: the `tar` library sanitises what it creates, so malicious
// archives are assembled header by header here.
// ---------------------------------------------------------------------------

interface RawEntry {
  name: string;
  type?: string;
  data?: Buffer | string;
  mode?: number;
  linkname?: string;
  prefix?: string;
  /** Overrides the size field (e.g. a huge declared size with no data). */
  size?: number;
  /** Corrupts the checksum. */
  badChecksum?: boolean;
}

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, '0')}\0`;
}

function rawHeader(entry: RawEntry, size: number): Buffer {
  const block = Buffer.alloc(512);
  Buffer.from(entry.name, 'utf8').copy(block, 0, 0, 100);
  block.write(octal(entry.mode ?? 0o644, 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1');
  block.write(octal(0, 8), 116, 'latin1');
  block.write(octal(size, 12), 124, 'latin1');
  block.write(octal(0, 12), 136, 'latin1');
  block.write(entry.type ?? '0', 156, 'latin1');
  Buffer.from(entry.linkname ?? '', 'utf8').copy(block, 157, 0, 100);
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  Buffer.from(entry.prefix ?? '', 'utf8').copy(block, 345, 0, 155);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  if (entry.badChecksum) sum += 1;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function rawTar(entries: RawEntry[], options: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : (entry.data ?? Buffer.alloc(0));
    parts.push(rawHeader(entry, entry.size ?? data.length));
    if (data.length > 0) parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (options.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return `${length}${body}`;
}

function pax(records: Record<string, string>, type = 'x'): RawEntry {
  return { name: 'PaxHeaders/x', type, data: Object.entries(records).map(([k, v]) => paxRecord(k, v)).join('') };
}

function longName(path: string, type = 'L'): RawEntry {
  return { name: '././@LongLink', type, data: `${path}\0` };
}

const tgz = (entries: RawEntry[], options?: { end?: boolean }): Buffer => gzipSync(rawTar(entries, options));

// ---------------------------------------------------------------------------

const roots: string[] = [];
after(async () => {
  for (const root of roots) await removeExtractedTree(root);
});

async function freshParent(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kss-extract-'));
  roots.push(root);
  return root;
}

/** Asserts the archive is rejected, names `mention`, and leaves the parent folder empty. */
async function assertRejected(archive: Buffer, mention: RegExp, limits?: { maxEntries?: number; maxBytes?: number }): Promise<void> {
  const parent = await freshParent();
  const dest = join(parent, 'tree');
  await assert.rejects(extractArchive(archive, dest, limits), (err: unknown) => {
    assert.ok(isKssError(err), `expected a KssError, got ${String(err)}`);
    assert.equal(err.code, 'KSS_INVALID_ARCHIVE');
    assert.equal(err.status, 400);
    assert.match(err.message, mention);
    return true;
  });
  assert.deepEqual(await readdir(parent), [], 'nothing (no destDir, no temp dir) may be left behind');
}

describe('extractArchive: well-formed archives', () => {
  it('extracts files, folders, executables, symlinks and hard links', async () => {
    const parent = await freshParent();
    const dest = join(parent, 'tree');
    const binary = Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * 31) % 256));
    const archive = tgz([
      { name: './', type: '5', mode: 0o755 },
      { name: './src/', type: '5', mode: 0o700 },
      { name: './src/index.js', data: 'export default () => "hi";\n', mode: 0o600 },
      { name: './run.sh', data: '#!/bin/sh\necho hi\n', mode: 0o4777 },
      { name: 'data/blob.bin', data: binary },
      { name: 'link.js', type: '2', linkname: 'src/index.js' },
      { name: 'src/up', type: '2', linkname: '../data' },
      { name: 'hard.bin', type: '1', linkname: 'data/blob.bin' },
    ]);
    const result = await extractArchive(archive, dest);
    assert.deepEqual(result, { files: 6, bytes: 27 + 18 + 1500 });
    assert.equal(await readFile(join(dest, 'src/index.js'), 'utf8'), 'export default () => "hi";\n');
    assert.deepEqual(await readFile(join(dest, 'data/blob.bin')), binary);
    assert.deepEqual(await readFile(join(dest, 'hard.bin')), binary);
    assert.equal(await readlink(join(dest, 'link.js')), 'src/index.js');
    assert.equal(await readlink(join(dest, 'src/up')), '../data');
    assert.equal((await stat(join(dest, 'src/index.js'))).mode & 0o7777, 0o644);
    assert.equal((await stat(join(dest, 'run.sh'))).mode & 0o7777, 0o755, 'setuid and world-write are dropped');
    assert.equal((await stat(join(dest, 'src'))).mode & 0o7777, 0o755);
    assert.equal((await stat(dest)).mode & 0o7777, 0o755);
    assert.deepEqual((await readdir(parent)).sort(), ['tree']);
  });

  it('applies pax paths and GNU long names that stay inside', async () => {
    const parent = await freshParent();
    const dest = join(parent, 'tree');
    const deep = `${'d'.repeat(120)}/${'e'.repeat(120)}/file.txt`;
    const archive = tgz([
      pax({ comment: 'git archive starts with a global header' }, 'g'),
      pax({ path: deep }),
      { name: 'ignored-short-name', data: 'pax' },
      longName(`${'g'.repeat(150)}.txt`),
      { name: 'truncated', data: 'gnu' },
      { name: 'name.txt', prefix: 'ustar/prefix', data: 'prefix' },
      pax({ comment: 'a global header without paths is fine' }, 'g'),
    ]);
    await extractArchive(archive, dest);
    assert.equal(await readFile(join(dest, deep), 'utf8'), 'pax');
    assert.equal(await readFile(join(dest, `${'g'.repeat(150)}.txt`), 'utf8'), 'gnu');
    assert.equal(await readFile(join(dest, 'ustar/prefix/name.txt'), 'utf8'), 'prefix');
  });

  it('leaves an existing destDir alone (content-addressed) but still validates', async () => {
    const parent = await freshParent();
    const dest = join(parent, 'tree');
    const archive = tgz([{ name: 'a.txt', data: 'one' }]);
    assert.deepEqual(await extractArchive(archive, dest), { files: 1, bytes: 3 });
    assert.deepEqual(await extractArchive(archive, dest), { files: 1, bytes: 3 });
    assert.deepEqual(await readdir(dest), ['a.txt']);
    await assert.rejects(extractArchive(tgz([{ name: '/etc/passwd', data: 'x' }]), dest), { code: 'KSS_INVALID_ARCHIVE' });
    assert.deepEqual(await readdir(parent), ['tree']);
  });

  it('accepts an empty archive', async () => {
    const parent = await freshParent();
    assert.deepEqual(await extractArchive(tgz([]), join(parent, 'tree')), { files: 0, bytes: 0 });
  });

  it('makes the tree read-only when asked', async () => {
    const parent = await freshParent();
    const dest = join(parent, 'tree');
    await extractArchive(tgz([
      { name: 'a/b.txt', data: 'b' },
      { name: 'a/run', data: 'x', mode: 0o755 },
      { name: 'a/l', type: '2', linkname: 'b.txt' },
    ]), dest, { readOnly: true });
    assert.equal((await stat(join(dest, 'a/b.txt'))).mode & 0o7777, 0o444);
    assert.equal((await stat(join(dest, 'a/run'))).mode & 0o7777, 0o555);
    assert.equal((await stat(join(dest, 'a'))).mode & 0o7777, 0o555);
    assert.equal((await stat(dest)).mode & 0o7777, 0o555);
    assert.ok((await lstat(join(dest, 'a/l'))).isSymbolicLink());
  });

  it('rejects entries concurrently without leaking temp dirs, and two extractions of the same content agree', async () => {
    const parent = await freshParent();
    const dest = join(parent, 'tree');
    const archive = tgz([{ name: 'a.txt', data: 'one' }, { name: 'b/c.txt', data: 'two' }]);
    const results = await Promise.all([extractArchive(archive, dest), extractArchive(archive, dest), extractArchive(archive, dest)]);
    for (const result of results) assert.deepEqual(result, { files: 2, bytes: 6 });
    assert.deepEqual(await readdir(parent), ['tree']);
    assert.equal(await readFile(join(dest, 'b/c.txt'), 'utf8'), 'two');
  });
});

describe('extractArchive: rejections (nothing written)', () => {
  it('rejects absolute paths', async () => {
    await assertRejected(tgz([{ name: '/etc/cron.d/evil', data: 'x' }]), /"\/etc\/cron\.d\/evil" is an absolute path; only relative paths/);
  });

  it('rejects .. segments', async () => {
    await assertRejected(tgz([{ name: 'ok.txt', data: 'fine' }, { name: 'a/../../evil', data: 'x' }]), /"a\/\.\.\/\.\.\/evil" contains a '\.\.' segment/);
    await assertRejected(tgz([{ name: '..', type: '5' }]), /contains a '\.\.' segment/);
    await assertRejected(tgz([{ name: 'evil', prefix: '..', data: 'x' }]), /"\.\.\/evil"/);
  });

  it('rejects Windows drive paths and backslashes', async () => {
    await assertRejected(tgz([{ name: 'C:/Windows/evil.dll', data: 'x' }]), /Windows drive path/);
    await assertRejected(tgz([{ name: 'c:evil', data: 'x' }]), /Windows drive path/);
    await assertRejected(tgz([{ name: '..\\..\\evil', data: 'x' }]), /backslash/);
  });

  it('rejects NUL bytes (pax path and GNU long name)', async () => {
    await assertRejected(tgz([pax({ path: 'safe.txt\0/../../evil' }), { name: 'x', data: 'x' }]), /NUL byte/);
    await assertRejected(tgz([longName('safe\0../../evil'), { name: 'x', data: 'x' }]), /NUL byte/);
  });

  it('rejects absolute and escaping symlinks', async () => {
    await assertRejected(tgz([{ name: 'etc', type: '2', linkname: '/etc' }]), /Symlink "etc" points to the absolute path "\/etc"/);
    await assertRejected(tgz([{ name: 'sub/', type: '5' }, { name: 'sub/up', type: '2', linkname: '../../outside' }]), /Symlink "sub\/up" points to "\.\.\/\.\.\/outside", which is outside the function folder/);
    await assertRejected(tgz([{ name: 'up', type: '2', linkname: '..' }]), /outside the function folder/);
    await assertRejected(tgz([{ name: 'empty', type: '2', linkname: '' }]), /empty target/);
    await assertRejected(tgz([{ name: 'drive', type: '2', linkname: 'C:/x' }]), /Windows drive path/);
  });

  it('rejects symlink chains that escape only once other links are followed', async () => {
    // a/b/s -> ../.. is the root; a/b/t -> s/../x is then root/../x.
    await assertRejected(tgz([
      { name: 'a/b/s', type: '2', linkname: '../..' },
      { name: 'a/b/t', type: '2', linkname: 's/../x' },
    ]), /Symlink "a\/b\/t" points to "s\/\.\.\/x", which leaves the function folder/);
    await assertRejected(tgz([
      { name: 'loop1', type: '2', linkname: 'loop2' },
      { name: 'loop2', type: '2', linkname: 'loop1' },
    ]), /symlink loop/);
  });

  it('rejects entries written through a symlink or inside a file', async () => {
    await assertRejected(tgz([
      { name: 'sub/', type: '5' },
      { name: 'l', type: '2', linkname: 'sub' },
      { name: 'l/x.txt', data: 'x' },
    ]), /"l\/x\.txt" is inside "l", which is a symlink/);
    await assertRejected(tgz([{ name: 'f', data: 'x' }, { name: 'f/g', data: 'y' }]), /inside "f", which is a file/);
  });

  it('rejects duplicate paths', async () => {
    await assertRejected(tgz([{ name: 'a.txt', data: 'one' }, { name: './a.txt', data: 'two' }]), /"\.\/a\.txt" appears more than once/);
    await assertRejected(tgz([{ name: 'd/x', data: 'one' }, { name: 'd', type: '2', linkname: '/etc' }]), /appears more than once|absolute/);
  });

  it('rejects hard links that escape, are absolute or point to nothing stored', async () => {
    await assertRejected(tgz([{ name: 'h', type: '1', linkname: '../../etc/passwd' }]), /Hard link "h" points to "\.\.\/\.\.\/etc\/passwd", which is not a relative path inside/);
    await assertRejected(tgz([{ name: 'h', type: '1', linkname: '/etc/passwd' }]), /Hard link "h" points to "\/etc\/passwd"/);
    await assertRejected(tgz([{ name: 'h', type: '1', linkname: 'later.txt' }, { name: 'later.txt', data: 'x' }]), /not a file stored earlier/);
    await assertRejected(tgz([{ name: 'd/', type: '5' }, { name: 'h', type: '1', linkname: 'd' }]), /not a file stored earlier/);
    await assertRejected(tgz([{ name: 's', type: '2', linkname: 'x' }, { name: 'h', type: '1', linkname: 's' }]), /not a file stored earlier/);
  });

  it('rejects devices, FIFOs and other special types', async () => {
    await assertRejected(tgz([{ name: 'tty', type: '3' }]), /"tty" is a character device; only regular files, folders and symlinks are allowed/);
    await assertRejected(tgz([{ name: 'sda', type: '4' }]), /"sda" is a block device/);
    await assertRejected(tgz([{ name: 'pipe', type: '6' }]), /"pipe" is a FIFO/);
    await assertRejected(tgz([{ name: 'sparse', type: 'S' }]), /"sparse" has the unsupported tar type "S"/);
  });

  it('rejects more than maxEntries entries', async () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    await assertRejected(tgz(entries), /more than 4 entries \(at "f4"\); at most 4 files/, { maxEntries: 4 });
    const parent = await freshParent();
    assert.deepEqual(await extractArchive(tgz(entries), join(parent, 't'), { maxEntries: 5 }), { files: 5, bytes: 5 });
  });

  it('rejects more than maxBytes, before inflating the data (zip bombs)', async () => {
    await assertRejected(tgz([{ name: 'a', data: 'x'.repeat(60) }, { name: 'b', data: 'y'.repeat(60) }]), /more than 100 bytes \(at "b"\)/, { maxBytes: 100 });
    // A declared 1 TiB file: rejected from its header alone.
    await assertRejected(gzipSync(rawHeader({ name: 'huge' }, 2 ** 40)), /more than 268435456 bytes \(at "huge"\)/);
    // 64 MiB of zeros compresses to ~64 KiB; it must stop early.
    const bomb = gzipSync(rawTar([{ name: 'bomb', data: Buffer.alloc(64 * 1024 * 1024) }]));
    const started = Date.now();
    await assertRejected(bomb, /more than 1048576 bytes/, { maxBytes: 1024 * 1024 });
    assert.ok(Date.now() - started < 5000);
    // Padding after the end marker counts too: a small archive followed by 64 MiB of zeros.
    const padded = gzipSync(Buffer.concat([rawTar([{ name: 'a', data: 'x' }]), Buffer.alloc(64 * 1024 * 1024)]));
    await assertRejected(padded, /unpacks to more than/, { maxBytes: 1000, maxEntries: 10 });
  });

  it('rejects corrupt gzip and tar streams', async () => {
    const good = tgz([{ name: 'a.txt', data: 'hello' }]);
    await assertRejected(Buffer.from('not gzip at all'), /not gzip-compressed/);
    await assertRejected(Buffer.alloc(0), /not gzip-compressed/);
    await assertRejected(rawTar([{ name: 'a.txt', data: 'x' }]), /not gzip-compressed/);
    await assertRejected(good.subarray(0, good.length - 10), /not a valid gzip stream/);
    const flipped = Buffer.from(good);
    flipped[20] ^= 0xff;
    await assertRejected(flipped, /not a valid (gzip stream|tar file)/);
    await assertRejected(tgz([{ name: 'a.txt', data: 'x', badChecksum: true }]), /checksum does not match/);
    await assertRejected(tgz([{ name: 'a.txt', data: 'x' }], { end: false }), /without the end-of-archive marker/);
    await assertRejected(gzipSync(rawTar([{ name: 'a.txt', data: 'x'.repeat(1000) }]).subarray(0, 700)), /ends in the middle of an entry/);
    await assertRejected(gzipSync(Buffer.concat([rawTar([{ name: 'a.txt', data: 'x' }]), rawTar([{ name: 'b.txt', data: 'y' }])])), /follows the end-of-archive marker/);
    await assertRejected(tgz([{ name: 'd/', type: '5', size: 3, data: 'abc' }]), /carries data/);
    await assertRejected(tgz([{ name: 'PaxHeaders/x', type: 'x', data: '99 path=x\n' }, { name: 'x', data: 'x' }]), /pax header record has a bad length/);
  });

  it('rejects a pax path override that escapes', async () => {
    await assertRejected(tgz([pax({ path: '../../../tmp/evil.sh' }), { name: 'innocent.txt', data: 'x' }]), /"\.\.\/\.\.\/\.\.\/tmp\/evil\.sh" contains a '\.\.' segment/);
    await assertRejected(tgz([pax({ path: '/tmp/evil.sh' }), { name: 'innocent.txt', data: 'x' }]), /"\/tmp\/evil\.sh" is an absolute path/);
    await assertRejected(tgz([pax({ linkpath: '../../etc' }), { name: 'l', type: '2', linkname: 'safe' }]), /Symlink "l" points to "\.\.\/\.\.\/etc"/);
    await assertRejected(tgz([pax({ path: '../evil' }, 'g'), { name: 'a', data: 'x' }]), /global pax header setting "path"/);
  });

  it('rejects a GNU long name or long link that escapes', async () => {
    await assertRejected(tgz([longName('../../../tmp/evil.sh'), { name: 'innocent.txt', data: 'x' }]), /"\.\.\/\.\.\/\.\.\/tmp\/evil\.sh" contains a '\.\.' segment/);
    await assertRejected(tgz([longName('/etc/evil'), { name: 'innocent.txt', data: 'x' }]), /is an absolute path/);
    await assertRejected(tgz([longName('../../etc', 'K'), { name: 'l', type: '2', linkname: 'safe' }]), /Symlink "l" points to "\.\.\/\.\.\/etc"/);
    await assertRejected(tgz([pax({ path: 'a' }), longName('b'), { name: 'x', data: 'x' }]), /both a pax path and a GNU long name/);
    await assertRejected(tgz([longName('dangling')]), /not (followed by an entry|a valid tar)|without the end-of-archive/);
  });
});
