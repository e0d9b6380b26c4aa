/**
 * Safe extraction of user-supplied code archives (tar.gz).
 *
 * A code archive is untrusted input that ends up on the host's disk, so extraction runs
 * in two passes over the same bytes: the first decompresses and validates every entry
 * (paths, link targets, types, counts, sizes) without writing anything; only if the
 * whole archive is acceptable does the second pass write it, into a temporary folder
 * beside the destination that is renamed into place at the end. A rejected archive
 * leaves nothing behind.
 */

import { constants as fsConstants } from 'node:fs';
import { chmod, link, lstat, mkdir, mkdtemp, open, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createGunzip } from 'node:zlib';
import { KssError, isKssError } from '../core/errors.js';
import {
  TarParser,
  checkSymlinkGraph,
  checkSymlinkTarget,
  describeName,
  normalizeEntryPath,
  parentOf,
} from './tar-format.js';
import type { TarEntry, TarEvent } from './tar-format.js';

/** Default limit on entries (files, folders, links) in one archive. */
export const DEFAULT_MAX_ENTRIES = 10_000;
/** Default limit on the total uncompressed size of the files in one archive (256 MiB). */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/** Limits and behaviour of {@link extractArchive}. */
export interface ExtractOptions {
  /** Most entries (files, folders, links) accepted; default {@link DEFAULT_MAX_ENTRIES}. */
  maxEntries?: number;
  /** Most uncompressed file bytes accepted; default {@link DEFAULT_MAX_BYTES}. */
  maxBytes?: number;
  /**
   * Make the extracted tree read-only before it becomes visible (files 0444, or 0555 when
   * executable; folders 0555). Used by the code store: functions must not change their code.
   */
  readOnly?: boolean;
}

/** What an archive contained. */
export interface ExtractResult {
  /** Non-folder entries: regular files, symlinks and hard links. */
  files: number;
  /** Total uncompressed bytes of the regular files. */
  bytes: number;
}

type Kind = 'folder' | 'file' | 'symlink' | 'hard link';

const KIND_OF: Record<TarEntry['type'], Kind> = {
  file: 'file',
  directory: 'folder',
  symlink: 'symlink',
  hardlink: 'hard link',
};

function invalid(message: string): KssError {
  return new KssError('KSS_INVALID_ARCHIVE', message);
}

interface Limits {
  maxEntries: number;
  maxBytes: number;
}

function readLimits(options: ExtractOptions): Limits {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a non-negative integer');
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxBytes must be a non-negative integer');
  return { maxEntries, maxBytes };
}

/**
 * Decompresses lazily, chunk by chunk, and stops as soon as the decompressed stream is
 * larger than `maxStream` (a zip bomb never gets fully inflated).
 */
async function* gunzipChunks(archive: Buffer, maxStream: number, maxBytes: number): AsyncGenerator<Buffer> {
  if (archive.length < 2 || archive[0] !== 0x1f || archive[1] !== 0x8b) {
    throw invalid('The archive is not gzip-compressed; upload a gzip-compressed tar (.tar.gz).');
  }
  const gunzip = createGunzip();
  gunzip.end(archive);
  let total = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxStream) {
        throw invalid(`The archive unpacks to more than ${maxStream} bytes of tar data; at most ${maxBytes} bytes of file content are allowed.`);
      }
      yield chunk;
    }
  } catch (err) {
    if (isKssError(err)) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw invalid(`The archive is not a valid gzip stream (${detail}); upload a gzip-compressed tar (.tar.gz).`);
  } finally {
    gunzip.destroy();
  }
}

/**
 * Tar headers, padding and metadata allowed on top of the file bytes: a header and up to
 * a block of padding per entry, some pax headers, and the end-of-archive padding.
 */
function streamBudget(limits: Limits): number {
  return limits.maxBytes + 16 * 1024 * 1024 + (limits.maxEntries + 2) * 2048;
}

/** Pass 1: validates the whole archive and writes nothing. */
async function validate(archive: Buffer, limits: Limits): Promise<ExtractResult> {
  const parser = new TarParser();
  const kinds = new Map<string, Kind>();
  const links = new Map<string, string>();
  let entries = 0;
  let files = 0;
  let bytes = 0;

  const onEntry = (entry: TarEntry): void => {
    entries += 1;
    if (entries > limits.maxEntries) {
      throw invalid(`The archive has more than ${limits.maxEntries} entries (at ${describeName(entry.path)}); at most ${limits.maxEntries} files, folders and links are allowed.`);
    }
    const path = normalizeEntryPath(entry.path);
    const kind = KIND_OF[entry.type];
    if (path === '') {
      if (kind === 'folder') return; // "./" — the root itself.
      throw invalid(`Archive entry ${describeName(entry.path)} is a ${kind} without a name; every file needs a relative path inside the function folder.`);
    }
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      const seen = kinds.get(ancestor);
      if (seen === undefined) kinds.set(ancestor, 'folder');
      else if (seen !== 'folder') {
        throw invalid(`Archive entry ${describeName(entry.path)} is inside ${describeName(ancestor)}, which is a ${seen}; entries may only be placed inside folders.`);
      }
    }
    const existing = kinds.get(path);
    if (existing !== undefined && !(existing === 'folder' && kind === 'folder')) {
      throw invalid(`Archive entry ${describeName(entry.path)} appears more than once (as a ${existing} and as a ${kind}); each path may appear only once.`);
    }
    switch (entry.type) {
      case 'file':
        bytes += entry.size;
        if (bytes > limits.maxBytes) {
          throw invalid(`The archive unpacks to more than ${limits.maxBytes} bytes (at ${describeName(entry.path)}); at most ${limits.maxBytes} bytes of file content are allowed.`);
        }
        files += 1;
        break;
      case 'symlink':
        checkSymlinkTarget(path, entry.linkpath);
        links.set(path, entry.linkpath);
        files += 1;
        break;
      case 'hardlink': {
        const rule = 'hard links must point to a regular file stored earlier in the same archive';
        let target: string;
        try {
          target = normalizeEntryPath(entry.linkpath);
        } catch {
          throw invalid(`Hard link ${describeName(entry.path)} points to ${describeName(entry.linkpath)}, which is not a relative path inside the function folder; ${rule}.`);
        }
        const targetKind = kinds.get(target);
        if (target === '' || (targetKind !== 'file' && targetKind !== 'hard link')) {
          throw invalid(`Hard link ${describeName(entry.path)} points to ${describeName(entry.linkpath)}, which is not a file stored earlier in the archive; ${rule}.`);
        }
        files += 1;
        break;
      }
      case 'directory':
        break;
    }
    kinds.set(path, kind);
  };

  for await (const chunk of gunzipChunks(archive, streamBudget(limits), limits.maxBytes)) {
    for (const event of parser.push(chunk)) {
      if (event.kind === 'entry') onEntry(event.entry);
    }
  }
  parser.end();
  checkSymlinkGraph(links);
  return { files, bytes };
}

/** Pass 2: writes a validated archive into `root` (a fresh, empty folder). */
async function write(archive: Buffer, root: string, limits: Limits, readOnly: boolean): Promise<void> {
  const parser = new TarParser();
  const folders = new Set<string>(['']);
  const executables: string[] = [];
  const plainFiles: string[] = [];
  const symlinks: Array<{ path: string; target: string }> = [];
  let handle: FileHandle | undefined;

  const ensureFolder = async (path: string): Promise<void> => {
    if (folders.has(path)) return;
    await ensureFolder(parentOf(path));
    const abs = join(root, path);
    try {
      await mkdir(abs, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const info = await lstat(abs);
      // Only possible on a case- or normalisation-folding file system.
      if (!info.isDirectory()) throw invalid(`Archive entry ${describeName(path)} collides with another entry of the archive on this file system.`);
    }
    folders.add(path);
  };

  const onEvent = async (event: TarEvent): Promise<void> => {
    if (event.kind === 'data') {
      let offset = 0;
      while (offset < event.chunk.length) {
        const { bytesWritten } = await (handle as FileHandle).write(event.chunk, offset);
        offset += bytesWritten;
      }
      return;
    }
    if (event.kind === 'entry-end') {
      if (handle) {
        const closing = handle;
        handle = undefined;
        await closing.close();
      }
      return;
    }
    const entry = event.entry;
    const path = normalizeEntryPath(entry.path);
    if (path === '') return;
    switch (entry.type) {
      case 'directory':
        await ensureFolder(path);
        break;
      case 'file': {
        await ensureFolder(parentOf(path));
        const executable = (entry.mode & 0o111) !== 0;
        const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
        try {
          handle = await open(join(root, path), flags, executable ? 0o755 : 0o644);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
            throw invalid(`Archive entry ${describeName(path)} collides with another entry of the archive on this file system.`);
          }
          throw err;
        }
        (executable ? executables : plainFiles).push(path);
        break;
      }
      case 'hardlink':
        await ensureFolder(parentOf(path));
        await link(join(root, normalizeEntryPath(entry.linkpath)), join(root, path));
        break;
      case 'symlink':
        // Created last, so no later entry can ever be written through a link.
        symlinks.push({ path, target: entry.linkpath });
        break;
    }
  };

  try {
    for await (const chunk of gunzipChunks(archive, streamBudget(limits), limits.maxBytes)) {
      for (const event of parser.push(chunk)) await onEvent(event);
    }
    parser.end();
  } finally {
    if (handle) await handle.close().catch(() => undefined);
  }
  for (const { path, target } of symlinks) {
    await ensureFolder(parentOf(path));
    await symlink(target, join(root, path));
  }

  // Normalise modes regardless of umask; deepest folders last so parents stay writable
  // until their children are done.
  const fileMode = readOnly ? 0o444 : 0o644;
  const execMode = readOnly ? 0o555 : 0o755;
  const folderMode = readOnly ? 0o555 : 0o755;
  for (const path of plainFiles) await chmod(join(root, path), fileMode);
  for (const path of executables) await chmod(join(root, path), execMode);
  const sortedFolders = [...folders].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const path of sortedFolders) await chmod(join(root, path), folderMode);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Removes a tree made by {@link extractArchive}, including a read-only one (its folders
 * are made writable first; symlinks are never followed).
 */
export async function removeExtractedTree(dir: string): Promise<void> {
  const makeWritable = async (path: string): Promise<void> => {
    let info;
    try {
      info = await lstat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (!info.isDirectory()) return;
    await chmod(path, 0o700);
    for (const entry of await readdir(path, { withFileTypes: true })) {
      if (entry.isDirectory()) await makeWritable(join(path, entry.name));
    }
  };
  await makeWritable(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Validates a tar.gz code archive completely, then extracts it to `destDir`.
 *
 * Rejected with `KSS_INVALID_ARCHIVE` (and nothing written): absolute paths, `..`
 * segments, Windows drive paths, backslashes, NUL bytes; symlinks that are absolute or
 * resolve outside the root (also through other symlinks of the archive); hard links to
 * anything but a regular file stored earlier; entries placed inside a file or symlink;
 * duplicate paths; devices, FIFOs and other special types; more than `maxEntries`
 * entries or `maxBytes` uncompressed bytes (checked while decompressing, so a zip bomb
 * stops early); a corrupt gzip or tar stream.
 *
 * Files get mode 0644, or 0755 when the archive marks them executable; owners and
 * timestamps are not restored. `destDir` is content-addressed by its callers: when it
 * exists already it is left as it is (the archive is still validated and counted).
 *
 * @returns how many non-folder entries and file bytes the archive holds
 */
export async function extractArchive(archive: Buffer, destDir: string, limits: ExtractOptions = {}): Promise<ExtractResult> {
  if (!Buffer.isBuffer(archive)) throw invalid('The archive must be sent as raw bytes (a gzip-compressed tar).');
  const checked = readLimits(limits);
  const result = await validate(archive, checked);

  const dest = resolve(destDir);
  if (await exists(dest)) return result;
  const parent = dirname(dest);
  await mkdir(parent, { recursive: true });
  const temp = await mkdtemp(join(parent, `.${basename(dest)}.tmp-`));
  try {
    await write(archive, temp, checked, limits.readOnly === true);
  } catch (err) {
    await removeExtractedTree(temp).catch(() => undefined);
    throw err;
  }
  try {
    await rename(temp, dest);
  } catch (err) {
    await removeExtractedTree(temp).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    // Someone else extracted the same content first: theirs is as good as ours.
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await stat(dest)).isDirectory()) return result;
    throw err;
  }
  return result;
}
