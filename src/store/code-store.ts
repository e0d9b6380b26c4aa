/**
 * Content-addressed storage of function code.
 *
 * A deployed function refers to its code by digest (`sha256:<hex>` of the archive
 * bytes), never by a path or name, so the same code uploaded twice is stored once, a
 * spec can be checked for code that exists before anything starts, and a replica's code
 * can never change under it. Layout under `dir`:
 *
 * ```
 * archives/<hex>.tar.gz   the uploaded bytes (served back by `read`)
 * trees/<hex>/            the extracted, read-only tree replicas run from
 * ```
 *
 * Every archive is fully validated by extraction before it is accepted.
 */

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KssError } from '../core/errors.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, extractArchive } from '../archive/index.js';

/** Default largest archive (compressed) accepted by {@link CodeStore.put}: 64 MiB. */
export const DEFAULT_MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;

const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

/** True when `value` is a well-formed code digest (`sha256:` and 64 lowercase hex digits). */
export function isCodeDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST_PATTERN.test(value);
}

/** What {@link CodeStore.put} stored. */
export interface CodePutResult {
  /** `sha256:<hex>` of the archive bytes; what a spec's `code` field holds. */
  digest: string;
  /** Archive size in bytes (compressed). */
  size: number;
  /** Files, symlinks and hard links in the archive (folders not counted). */
  files: number;
}

/** Where function code lives; see the module comment for the layout and the why. */
export interface CodeStore {
  /**
   * Validates and stores a tar.gz code archive. Idempotent: the same bytes give the same
   * digest and are stored once. Throws `KSS_PAYLOAD_TOO_LARGE` for an oversized archive
   * and `KSS_INVALID_ARCHIVE` for one that is corrupt, too big unpacked, or has unsafe entries.
   */
  put(archive: Buffer): Promise<CodePutResult>;
  /** True when code with this digest is stored (false for a malformed digest). */
  has(digest: string): boolean;
  /**
   * The read-only folder holding the extracted code. Throws `KSS_CODE_NOT_FOUND` for a
   * malformed or unknown digest.
   */
  treePath(digest: string): string;
  /** The archive bytes as uploaded. Throws `KSS_CODE_NOT_FOUND` for a malformed or unknown digest. */
  read(digest: string): Promise<Buffer>;
}

/** Options of {@link createCodeStore}. */
export interface CodeStoreOptions {
  /** Folder the store owns (created when missing). */
  dir: string;
  /** Largest archive accepted, compressed; default {@link DEFAULT_MAX_ARCHIVE_BYTES}. */
  maxArchiveBytes?: number;
  /** Most entries in one archive; default 10,000. */
  maxEntries?: number;
  /** Most uncompressed file bytes in one archive; default 256 MiB. */
  maxUnpackedBytes?: number;
}

function hexOf(digest: string): string {
  if (!isCodeDigest(digest)) {
    const text: unknown = digest;
    const shown = typeof text === 'string' ? JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text) : String(text);
    throw new KssError('KSS_CODE_NOT_FOUND', `No code with digest ${shown}: a code digest looks like sha256:<64 lowercase hex digits>, as returned when the code was uploaded.`);
  }
  return digest.slice('sha256:'.length);
}

function notFound(digest: string): KssError {
  return new KssError('KSS_CODE_NOT_FOUND', `No code with digest ${digest} is stored; upload the code archive first.`);
}

/** Opens (creating when missing) a content-addressed code store in `options.dir`. */
export function createCodeStore(options: CodeStoreOptions): CodeStore {
  const dir = resolve(options.dir);
  const archivesDir = join(dir, 'archives');
  const treesDir = join(dir, 'trees');
  const maxArchiveBytes = options.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES;
  const limits = {
    maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    maxBytes: options.maxUnpackedBytes ?? DEFAULT_MAX_BYTES,
    readOnly: true,
  };
  const archivePath = (hex: string): string => join(archivesDir, `${hex}.tar.gz`);
  const treeDir = (hex: string): string => join(treesDir, hex);

  const isStored = (hex: string): boolean => {
    try {
      return statSync(archivePath(hex)).isFile() && statSync(treeDir(hex)).isDirectory();
    } catch {
      return false;
    }
  };

  const writeAtomically = async (target: string, data: Buffer): Promise<void> => {
    const temp = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await open(temp, 'wx', 0o444);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
  };

  return {
    async put(archive: Buffer): Promise<CodePutResult> {
      if (!Buffer.isBuffer(archive)) {
        throw new KssError('KSS_INVALID_ARCHIVE', 'The code archive must be sent as raw bytes (a gzip-compressed tar).');
      }
      if (archive.length > maxArchiveBytes) {
        throw new KssError('KSS_PAYLOAD_TOO_LARGE', `The code archive is ${archive.length} bytes; at most ${maxArchiveBytes} bytes are accepted. Exclude build output and dependencies you do not need, or raise the limit.`);
      }
      const hex = createHash('sha256').update(archive).digest('hex');
      const digest = `sha256:${hex}`;
      await mkdir(archivesDir, { recursive: true });
      await mkdir(treesDir, { recursive: true });
      await ensurePackageBoundary(treesDir);
      // Validates every entry; writes the tree only when it is not there yet.
      const { files } = await extractArchive(archive, treeDir(hex), limits);
      // The archive is written last: its presence means the tree is complete.
      if (!existsSync(archivePath(hex))) await writeAtomically(archivePath(hex), archive);
      return { digest, size: archive.length, files };
    },

    has(digest: string): boolean {
      return isCodeDigest(digest) && isStored(digest.slice('sha256:'.length));
    },

    treePath(digest: string): string {
      const hex = hexOf(digest);
      if (!isStored(hex)) throw notFound(digest);
      return treeDir(hex);
    },

    async read(digest: string): Promise<Buffer> {
      const hex = hexOf(digest);
      try {
        return await readFile(archivePath(hex));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(digest);
        throw err;
      }
    },
  };
}

/**
 * Writes `{}` as `trees/package.json`. Node decides whether a `.js` file is
 * CommonJS or ESM from the nearest package.json above it; without this boundary a
 * data dir inside a `"type": "module"` project (like this repository) would make
 * every CommonJS handler fail with "module is not defined". A function's own
 * package.json, inside its tree, still wins.
 */
async function ensurePackageBoundary(treesDir: string): Promise<void> {
  const file = join(treesDir, 'package.json');
  if (!existsSync(file)) await writeFile(file, '{}\n');
}
