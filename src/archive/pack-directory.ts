/**
 * Deterministic packing of a function's folder into a tar.gz code archive.
 *
 * The code store addresses archives by their sha256, so the same files must always give
 * the same bytes: entries are sorted, timestamps are 0, owners are 0 with no names, and
 * modes are reduced to 0644 / 0755 (only the executable bit survives). Re-deploying an
 * unchanged folder then yields the same digest and nothing is re-extracted or restarted.
 */

import { lstat, readFile, readdir, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { KssError, isKssError } from '../core/errors.js';
import { checkSymlinkGraph, checkSymlinkTarget, describeName, normalizeEntryPath, writeTar } from './tar-format.js';
import type { TarWriteEntry } from './tar-format.js';

const gzipAsync = promisify(gzip);

/**
 * Always left out of a code archive: version control, the platform's own data folder,
 * and build caches. Patterns follow {@link PackOptions.exclude}.
 */
export const DEFAULT_EXCLUDES: readonly string[] = ['.git', '.kss', '**/node_modules/.cache'];

/** Options of {@link packDirectory}. */
export interface PackOptions {
  /**
   * Extra paths to leave out, on top of {@link DEFAULT_EXCLUDES}. A pattern without a `/`
   * matches a file or folder name at any depth (`*.log`, `__pycache__`); a pattern with a
   * `/` matches a path from the folder's root (`build/tmp`), or at any depth when it starts
   * with `**\/`. `*` and `?` match within one path segment. A matched folder is left out
   * with everything in it.
   */
  exclude?: string[];
}

function packError(message: string): KssError {
  return new KssError('KSS_INVALID_ARCHIVE', message);
}

function globToRegExp(pattern: string): RegExp | undefined {
  let p = pattern.trim().replace(/\\/g, '/');
  if (p === '') return undefined;
  p = p.replace(/^\.\/+/, '').replace(/\/+$/, '');
  const anchored = p.includes('/');
  p = p.replace(/^\/+/, '');
  let anyDepth = false;
  if (p.startsWith('**/')) {
    anyDepth = true;
    p = p.slice(3);
  }
  const body = p
    .split('')
    .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  if (!anchored) return new RegExp(`(?:^|/)${body}$`);
  return new RegExp(anyDepth ? `(?:^|/)${body}$` : `^${body}$`);
}

function compileExcludes(extra: readonly string[]): (path: string) => boolean {
  const patterns = [...DEFAULT_EXCLUDES, ...extra].map(globToRegExp).filter((r): r is RegExp => r !== undefined);
  return (path) => patterns.some((r) => r.test(path));
}

/**
 * Packs `dir` into a deterministic tar.gz (see the module comment), leaving out
 * {@link DEFAULT_EXCLUDES} and `options.exclude`.
 *
 * Symlinks are stored as symlinks when their target stays inside `dir` (an absolute
 * target inside `dir` is rewritten as a relative one); a link pointing outside, or a
 * socket, FIFO or device, fails with `KSS_INVALID_ARCHIVE` naming the entry, so what is
 * packed here is always accepted by {@link extractArchive}.
 *
 * The tar stream is byte-identical on every machine; the gzip layer is identical for the
 * same zlib build (the OS byte of the gzip header is fixed too).
 */
export async function packDirectory(dir: string, options: PackOptions = {}): Promise<Buffer> {
  const root = resolve(dir);
  const rootInfo = await lstat(root).catch(() => undefined);
  if (!rootInfo?.isDirectory()) {
    throw new KssError('KSS_BAD_REQUEST', `Cannot pack ${describeName(dir)}: it is not a folder.`);
  }
  const realRoot = await realpath(root);
  const excluded = compileExcludes(options.exclude ?? []);
  const entries: TarWriteEntry[] = [];
  const links = new Map<string, string>();

  const toInside = (absTarget: string): string | undefined => {
    for (const base of [root, realRoot]) {
      const rel = relative(base, absTarget);
      if (rel === '') return '';
      if (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel)) return rel.split(sep).join('/');
    }
    return undefined;
  };

  const walk = async (relDir: string): Promise<void> => {
    const names = (await readdir(join(root, relDir))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      if (excluded(rel)) continue;
      normalizeEntryPath(rel, 'File');
      const abs = join(root, rel);
      const info = await lstat(abs);
      if (info.isDirectory()) {
        entries.push({ path: rel, type: 'directory', mode: 0o755 });
        await walk(rel);
      } else if (info.isFile()) {
        const data = await readFile(abs);
        entries.push({ path: rel, type: 'file', mode: (info.mode & 0o111) !== 0 ? 0o755 : 0o644, data });
      } else if (info.isSymbolicLink()) {
        let target = await readlink(abs);
        if (isAbsolute(target)) {
          const inside = toInside(target);
          if (inside === undefined) {
            throw packError(`Cannot pack symlink ${describeName(rel)}: it points to ${describeName(target)}, outside the folder being packed. Replace it with a copy of what it points to, a relative link inside the folder, or exclude it.`);
          }
          target = posix.relative(posix.dirname(rel), inside) || '.';
        }
        try {
          checkSymlinkTarget(rel, target);
        } catch (err) {
          if (!isKssError(err)) throw err;
          throw packError(`Cannot pack symlink ${describeName(rel)}: it points to ${describeName(target)}, outside the folder being packed. Replace it with a copy of what it points to, a relative link inside the folder, or exclude it.`);
        }
        links.set(rel, target);
        entries.push({ path: rel, type: 'symlink', mode: 0o777, linkpath: target });
      } else {
        throw packError(`Cannot pack ${describeName(rel)}: it is a socket, FIFO or device; only regular files, folders and symlinks can be packed. Exclude it.`);
      }
    }
  };

  await walk('');
  try {
    checkSymlinkGraph(links);
  } catch (err) {
    if (!isKssError(err)) throw err;
    throw packError(`Cannot pack: ${err.message}`);
  }
  const tar = Buffer.concat(writeTar(entries));
  const archive = await gzipAsync(tar, { level: 9 });
  archive[9] = 3; // gzip OS field: "Unix", whatever platform packed it.
  return archive;
}
