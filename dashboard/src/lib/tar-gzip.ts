/**
 * Packs files edited in the browser into the code archive the gateway takes
 * (`POST /api/v1/code`): a POSIX ustar stream, gzip-compressed with the browser's
 * own `CompressionStream`. Only regular files (type '0') and the folders their paths
 * need (type '5') are written — what src/archive/extract-archive.ts accepts.
 */

/** One file of the archive. */
export interface PackFile {
  /** Relative path, `/`-separated (`handler.js`, `lib/util.js`). */
  path: string;
  /** Text (written as UTF-8) or raw bytes. */
  content: string | Uint8Array;
  /** Unix permission bits; default 0o644. Only the executable bit survives extraction. */
  mode?: number;
}

/** Options of {@link packFiles}. */
export interface PackOptions {
  /**
   * Modification time written in every header, in seconds since the epoch (or a Date);
   * default now. Pass 0 for byte-identical archives of identical files: the gateway
   * addresses code by the archive's sha256, so a fixed mtime lets an unchanged
   * re-deploy reuse its build.
   */
  mtime?: number | Date;
}

const BLOCK = 512;
const encoder = new TextEncoder();

/**
 * Writes `files` as a ustar archive (512-byte headers with checksums, octal fields,
 * folders for nested paths, two zero blocks at the end) and gzips it.
 *
 * Entries come out sorted by path, each folder before what it holds. Throws an
 * `Error` naming the file for a path the gateway would refuse (absolute, `..`,
 * backslash, empty, duplicate, or a file where a folder is needed).
 */
export async function packFiles(files: PackFile[], options: PackOptions = {}): Promise<Uint8Array> {
  const tar = writeTar(files, mtimeSeconds(options.mtime));
  return gzip(tar);
}

function mtimeSeconds(mtime: number | Date | undefined): number {
  if (mtime === undefined) return Math.floor(Date.now() / 1000);
  const seconds = mtime instanceof Date ? Math.floor(mtime.getTime() / 1000) : Math.floor(mtime);
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError('mtime must be a time after 1970');
  return seconds;
}

interface Entry {
  path: string;
  type: 'file' | 'directory';
  mode: number;
  data: Uint8Array;
}

/** Checks a path the way the gateway's tar reader does and returns it normalised. */
function normalizePath(raw: string): string {
  const shown = JSON.stringify(raw.length > 100 ? `${raw.slice(0, 100)}…` : raw);
  if (raw.includes('\0')) throw new Error(`File ${shown}: a path cannot contain a NUL byte`);
  if (raw.includes('\\')) throw new Error(`File ${shown}: use '/' to separate folders, not '\\'`);
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw new Error(`File ${shown}: use a relative path inside the function folder`);
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw new Error(`File ${shown}: '..' is not allowed; use a path inside the function folder`);
  if (segments.length === 0) throw new Error('A file needs a name');
  for (const s of segments) if (encoder.encode(s).length > 255) throw new Error(`File ${shown}: a path segment is longer than 255 bytes`);
  const path = segments.join('/');
  if (encoder.encode(path).length > 4096) throw new Error(`File ${shown}: the path is longer than 4096 bytes`);
  return path;
}

function collectEntries(files: PackFile[]): Entry[] {
  const byPath = new Map<string, Entry>();
  for (const file of files) {
    const path = normalizePath(file.path);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      const seen = byPath.get(folder);
      if (seen && seen.type !== 'directory') throw new Error(`File ${JSON.stringify(path)} is inside ${JSON.stringify(folder)}, which is a file`);
      if (!seen) byPath.set(folder, { path: folder, type: 'directory', mode: 0o755, data: new Uint8Array(0) });
    }
    const existing = byPath.get(path);
    if (existing) {
      throw new Error(existing.type === 'directory' ? `File ${JSON.stringify(path)} is also a folder of other files` : `File ${JSON.stringify(path)} appears twice`);
    }
    const data = typeof file.content === 'string' ? encoder.encode(file.content) : file.content;
    const mode = (file.mode ?? 0o644) & 0o7777;
    byPath.set(path, { path, type: 'file', mode, data });
  }
  // Segment-wise order: a folder ("a") sorts before what it holds ("a/b"), siblings by name.
  const key = (p: string) => p.split('/');
  return [...byPath.values()].sort((x, y) => {
    const a = key(x.path);
    const b = key(y.path);
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
    return a.length - b.length;
  });
}

function writeTar(files: PackFile[], mtime: number): Uint8Array<ArrayBuffer> {
  const chunks: Uint8Array[] = [];
  for (const entry of collectEntries(files)) {
    const fullPath = entry.type === 'directory' ? `${entry.path}/` : entry.path;
    const split = splitUstar(fullPath);
    if (!split) {
      // Too long for ustar's name + prefix: a pax extended header carries the path.
      const payload = encoder.encode(paxRecord('path', fullPath));
      const base = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      chunks.push(header({ name: truncateUtf8(`PaxHeaders/${base}`, 100), prefix: '', mode: 0o644, size: payload.length, mtime, flag: 'x' }), payload, padding(payload.length));
    }
    const { name, prefix } = split ?? { name: truncateUtf8(fullPath, 100), prefix: '' };
    chunks.push(header({ name, prefix, mode: entry.mode, size: entry.data.length, mtime, flag: entry.type === 'file' ? '0' : '5' }));
    if (entry.data.length > 0) chunks.push(entry.data, padding(entry.data.length));
  }
  chunks.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Splits a path into ustar's `prefix` (≤155 bytes) and `name` (≤100), or undefined when it cannot. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  if (encoder.encode(path).length <= 100) return { prefix: '', name: path };
  // A folder's trailing slash stays with the name.
  for (let i = path.indexOf('/'); i >= 0 && i < path.length - 1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100) return { prefix, name };
  }
  return undefined;
}

function truncateUtf8(text: string, max: number): string {
  let out = '';
  for (const ch of text) {
    if (encoder.encode(out + ch).length > max) break;
    out += ch;
  }
  return out;
}

/** One pax record: `<length> <key>=<value>\n`, where length counts itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = encoder.encode(body).length;
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return `${length}${body}`;
}

function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

function writeBytes(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`tar header field overflow (${text.slice(0, 40)})`);
  block.set(bytes, offset);
}

/** `length - 1` zero-padded octal digits and a NUL, as ustar numeric fields are. */
function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new Error(`a file is too large for a tar archive (${value} bytes)`);
  writeBytes(block, offset, length, `${digits}\0`);
}

function header(f: { name: string; prefix: string; mode: number; size: number; mtime: number; flag: '0' | '5' | 'x' }): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeBytes(block, 0, 100, f.name);
  writeOctal(block, 100, 8, f.mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, f.size);
  writeOctal(block, 136, 12, f.mtime);
  writeBytes(block, 156, 1, f.flag);
  // linkname (157, 100) stays empty: no links are written.
  writeBytes(block, 257, 6, 'ustar\0');
  writeBytes(block, 263, 2, '00');
  // uname (265, 32) and gname (297, 32) stay empty: owners are not restored.
  writeOctal(block, 329, 8, 0); // devmajor
  writeOctal(block, 337, 8, 0); // devminor
  writeBytes(block, 345, 155, f.prefix);
  // The checksum is the sum of the header's bytes with its own field read as spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeBytes(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

async function gzip(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
