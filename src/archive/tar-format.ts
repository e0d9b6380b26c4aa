/**
 * A small, strict tar (ustar + pax + GNU long names) reader and writer.
 *
 * Why not the `tar` package: code archives come from users over the network, and the
 * platform must decide exactly what an entry means before anything touches the disk.
 * Owning the parser means every header field, every pax record and every GNU long
 * name goes through one validator, and the writer produces byte-identical output for
 * identical input (no timestamps, owners or host-specific fields).
 *
 * Internal to `src/archive/`: the public surface is `packDirectory` and `extractArchive`.
 */

import { KssError } from '../core/errors.js';

/** Size of a tar block; headers and data are padded to it. */
export const BLOCK = 512;

/** Longest path (in UTF-8 bytes) an entry may have, after pax / GNU overrides. */
export const MAX_PATH_BYTES = 4096;
/** Longest single path segment (in UTF-8 bytes). */
export const MAX_SEGMENT_BYTES = 255;
/** Largest pax extended header or GNU long-name payload accepted. */
export const MAX_META_BYTES = 1024 * 1024;
/** Metadata headers (pax / GNU long name) allowed in a row before a real entry. */
export const MAX_META_CHAIN = 8;
/** Symlink hops followed while checking where a link ends up. */
export const MAX_LINK_HOPS = 40;

/** What an entry is, after the type flag is interpreted. */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

/** One real (non-metadata) entry, with pax / GNU overrides already applied. */
export interface TarEntry {
  /** The path as written in the archive (raw: not yet validated or normalised). */
  path: string;
  type: TarEntryType;
  /** Bytes of data that follow (only files have data). */
  size: number;
  /** Permission bits from the header (only the executable bit is kept on extract). */
  mode: number;
  /** Target of a symlink or hard link (raw), empty otherwise. */
  linkpath: string;
}

/** What the parser reports while it reads. */
export type TarEvent =
  | { kind: 'entry'; entry: TarEntry }
  | { kind: 'data'; chunk: Buffer }
  | { kind: 'entry-end' };

/** An entry as the writer takes it. */
export interface TarWriteEntry {
  /** Normalised relative path, `/`-separated, no trailing slash. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** Already-normalised permission bits (0644, 0755, 0777 for links). */
  mode: number;
  data?: Buffer;
  linkpath?: string;
}

/** Shows a user-supplied name safely inside an error message (quoted, escaped, short). */
export function describeName(name: string): string {
  const shown = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  return JSON.stringify(shown);
}

function invalid(message: string): KssError {
  return new KssError('KSS_INVALID_ARCHIVE', message);
}

function corrupt(detail: string): KssError {
  return invalid(`The archive is not a valid tar file (${detail}). Upload a gzip-compressed tar (.tar.gz) as made by \`kss\`, \`tar czf\` or another standard tar tool.`);
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/**
 * Normalises an entry path and rejects anything that is not a plain relative path
 * inside the archive root. Returns `''` for the root itself (`.` or `./`).
 * `what` names the thing in messages (e.g. "Archive entry", "Hard link target of …").
 */
export function normalizeEntryPath(raw: string, what = 'Archive entry'): string {
  const allowed = 'only relative paths inside the function folder are allowed';
  if (raw.includes('\0')) {
    throw invalid(`${what} ${describeName(raw)} contains a NUL byte; ${allowed}.`);
  }
  if (raw.includes('\\')) {
    throw invalid(`${what} ${describeName(raw)} contains a backslash; use '/' as the path separator (${allowed}).`);
  }
  if (/^[A-Za-z]:/.test(raw)) {
    throw invalid(`${what} ${describeName(raw)} is a Windows drive path; ${allowed}.`);
  }
  if (raw.startsWith('/')) {
    throw invalid(`${what} ${describeName(raw)} is an absolute path; ${allowed}.`);
  }
  const segments: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      throw invalid(`${what} ${describeName(raw)} contains a '..' segment; ${allowed}.`);
    }
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) {
      throw invalid(`${what} ${describeName(raw)} has a path segment longer than ${MAX_SEGMENT_BYTES} bytes.`);
    }
    segments.push(segment);
  }
  const path = segments.join('/');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw invalid(`${what} ${describeName(raw)} is longer than ${MAX_PATH_BYTES} bytes.`);
  }
  return path;
}

/** Parent folder of a normalised path (`''` for the root). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/**
 * Checks a symlink target before any other entry is known: it must be non-empty,
 * relative, free of NUL bytes and drive letters, and must not climb above the root
 * when resolved lexically from the link's own folder.
 */
export function checkSymlinkTarget(linkPath: string, target: string): void {
  const allowed = 'symlinks must use a relative target that stays inside the function folder';
  const name = describeName(linkPath);
  if (target === '') throw invalid(`Symlink ${name} has an empty target; ${allowed}.`);
  if (target.includes('\0')) throw invalid(`Symlink ${name} has a target containing a NUL byte; ${allowed}.`);
  if (target.includes('\\')) throw invalid(`Symlink ${name} has a target containing a backslash; ${allowed}.`);
  if (/^[A-Za-z]:/.test(target)) throw invalid(`Symlink ${name} points to a Windows drive path ${describeName(target)}; ${allowed}.`);
  if (target.startsWith('/')) throw invalid(`Symlink ${name} points to the absolute path ${describeName(target)}; ${allowed}.`);
  if (Buffer.byteLength(target) > MAX_PATH_BYTES) throw invalid(`Symlink ${name} has a target longer than ${MAX_PATH_BYTES} bytes.`);
  let depth = linkPath.split('/').length - 1;
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      depth -= 1;
      if (depth < 0) throw invalid(`Symlink ${name} points to ${describeName(target)}, which is outside the function folder; ${allowed}.`);
    } else {
      depth += 1;
    }
  }
}

/**
 * Checks every symlink of a complete tree the way the kernel would resolve it, following
 * other symlinks of the same tree: a chain of links that each look harmless on their own
 * (`a/b/s -> ../..` then `a/b/t -> s/../x`) must not end up above the root. Paths that do
 * not exist in the tree are treated as plain folders (they cannot exist at run time, so
 * resolving through them fails rather than escapes). Loops are rejected too.
 *
 * @param links normalised link path → raw (already {@link checkSymlinkTarget}-checked) target
 */
export function checkSymlinkGraph(links: ReadonlyMap<string, string>): void {
  for (const [linkPath, target] of links) {
    const current = linkPath.split('/');
    current.pop();
    const queue = target.split('/');
    let hops = 0;
    while (queue.length > 0) {
      const segment = queue.shift() as string;
      if (segment === '' || segment === '.') continue;
      if (segment === '..') {
        if (current.length === 0) {
          throw invalid(`Symlink ${describeName(linkPath)} points to ${describeName(target)}, which leaves the function folder once the other symlinks it goes through are followed; symlinks must stay inside the function folder.`);
        }
        current.pop();
        continue;
      }
      current.push(segment);
      const next = links.get(current.join('/'));
      if (next !== undefined) {
        hops += 1;
        if (hops > MAX_LINK_HOPS) {
          throw invalid(`Symlink ${describeName(linkPath)} is part of a symlink loop (more than ${MAX_LINK_HOPS} hops); symlinks must resolve to a file or folder inside the function folder.`);
        }
        current.pop();
        queue.unshift(...next.split('/'));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('utf8');
}

function readNumber(block: Buffer, offset: number, length: number, field: string): number {
  const bytes = block.subarray(offset, offset + length);
  if (bytes[0] === 0x80 || bytes[0] === 0xff) {
    // GNU base-256: big-endian, first byte's high bit set; 0xff means negative.
    if (bytes[0] === 0xff) throw corrupt(`negative ${field}`);
    let value = 0;
    for (let i = 1; i < bytes.length; i++) {
      value = value * 256 + bytes[i];
      if (!Number.isSafeInteger(value)) throw corrupt(`${field} too large`);
    }
    return value;
  }
  const text = bytes.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw corrupt(`${field} field is not an octal number`);
  const value = parseInt(text, 8);
  if (!Number.isSafeInteger(value)) throw corrupt(`${field} too large`);
  return value;
}

function verifyChecksum(block: Buffer): void {
  const stored = readNumber(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw corrupt('a header checksum does not match');
}

function parsePax(payload: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < payload.length) {
    if (payload[offset] === 0) {
      // Trailing NUL padding is tolerated only at the very end.
      if (payload.subarray(offset).every((b) => b === 0)) break;
      throw corrupt('a pax header has a NUL byte between records');
    }
    const space = payload.indexOf(0x20, offset);
    if (space < 0 || space - offset > 20) throw corrupt('a pax header record has no length');
    const lengthText = payload.subarray(offset, space).toString('latin1');
    if (!/^[1-9][0-9]*$/.test(lengthText)) throw corrupt('a pax header record has a bad length');
    const length = Number(lengthText);
    const end = offset + length;
    if (end > payload.length || length < space - offset + 3 || payload[end - 1] !== 0x0a) {
      throw corrupt('a pax header record has a bad length');
    }
    const record = payload.subarray(space + 1, end - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) throw corrupt('a pax header record has no key');
    records.set(record.subarray(0, equals).toString('utf8'), record.subarray(equals + 1).toString('utf8'));
    offset = end;
  }
  return records;
}

type ParserState = 'header' | 'data' | 'meta' | 'skip' | 'end';

/**
 * A push parser: feed it decompressed chunks, it returns what it found. It checks the
 * format (checksums, field syntax, pax records, sizes of metadata) and applies pax and
 * GNU long-name overrides; it does not judge paths, which is the extractor's job.
 * Special types (devices, FIFOs, sparse files, …) are rejected here by type flag.
 */
export class TarParser {
  private state: ParserState = 'header';
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private meta: { flag: string; buffer: Buffer; fill: number } | undefined;
  private pending: { paxPath?: string; paxLinkpath?: string; paxSize?: number; gnuPath?: string; gnuLinkpath?: string; chain: number; local?: boolean } = { chain: 0 };
  private sawZeroBlock = false;
  private trailing = 0;
  private dataSize = 0;

  /** Feeds the next chunk; returns the events it completes. */
  push(chunk: Buffer): TarEvent[] {
    const events: TarEvent[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.state) {
        case 'header': {
          const n = Math.min(BLOCK - this.headerFill, chunk.length - offset);
          chunk.copy(this.header, this.headerFill, offset, offset + n);
          this.headerFill += n;
          offset += n;
          if (this.headerFill === BLOCK) {
            this.headerFill = 0;
            this.onHeader(events);
          }
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, chunk.length - offset);
          events.push({ kind: 'data', chunk: chunk.subarray(offset, offset + n) });
          offset += n;
          this.remaining -= n;
          if (this.remaining === 0) this.finishData(events);
          break;
        }
        case 'meta': {
          const meta = this.meta as { flag: string; buffer: Buffer; fill: number };
          const n = Math.min(meta.buffer.length - meta.fill, chunk.length - offset);
          chunk.copy(meta.buffer, meta.fill, offset, offset + n);
          meta.fill += n;
          offset += n;
          if (meta.fill === meta.buffer.length) this.onMeta(meta.flag, meta.buffer);
          break;
        }
        case 'skip': {
          const n = Math.min(this.remaining, chunk.length - offset);
          offset += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'header';
          break;
        }
        case 'end': {
          // After the end-of-archive marker only zero padding may follow (tar pads to
          // its record size); anything else is a second archive or garbage.
          const rest = chunk.subarray(offset);
          if (!rest.every((b) => b === 0)) throw corrupt('data follows the end-of-archive marker');
          this.trailing += rest.length;
          offset = chunk.length;
          break;
        }
      }
    }
    return events;
  }

  /** Call when the input is exhausted; throws if the archive stopped part-way. */
  end(): void {
    if (this.state === 'end') return;
    if (this.state === 'header' && this.headerFill === 0) {
      // One zero block is enough (GNU tar accepts it too); none at all means truncation.
      if (this.sawZeroBlock) return;
      if (!this.pending.local) throw corrupt('it ends without the end-of-archive marker; it may be truncated');
    }
    throw corrupt('it ends in the middle of an entry; it may be truncated');
  }

  /** Zero bytes seen after the end-of-archive marker. */
  get trailingBytes(): number {
    return this.trailing;
  }

  private finishData(events: TarEvent[]): void {
    events.push({ kind: 'entry-end' });
    this.skipPadding();
  }

  private skipPadding(): void {
    // `remaining` was the data size; padding rounds the consumed size to a block.
    const padding = (BLOCK - (this.dataSize % BLOCK)) % BLOCK;
    if (padding > 0) {
      this.state = 'skip';
      this.remaining = padding;
    } else {
      this.state = 'header';
    }
  }

  private onHeader(events: TarEvent[]): void {
    const block = this.header;
    if (block.every((b) => b === 0)) {
      if (this.pending.local) throw corrupt('a pax or long-name header is not followed by an entry');
      if (this.sawZeroBlock) {
        this.state = 'end';
      } else {
        this.sawZeroBlock = true;
      }
      return;
    }
    if (this.sawZeroBlock) throw corrupt('an entry follows an end-of-archive block');
    verifyChecksum(block);

    const flagByte = block[156];
    const flag = flagByte === 0 ? '0' : String.fromCharCode(flagByte);
    const magic = block.subarray(257, 263).toString('latin1');
    const ustar = magic === 'ustar\0';
    const name = readString(block, 0, 100);
    const prefix = ustar ? readString(block, 345, 155) : '';
    const headerPath = prefix ? `${prefix}/${name}` : name;
    const size = readNumber(block, 124, 12, 'size');

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      this.pending.chain += 1;
      if (flag !== 'g') this.pending.local = true;
      if (this.pending.chain > MAX_META_CHAIN) throw corrupt(`more than ${MAX_META_CHAIN} pax or long-name headers in a row`);
      if (size > MAX_META_BYTES) throw invalid(`A pax or long-name header in the archive is ${size} bytes; at most ${MAX_META_BYTES} bytes are allowed.`);
      this.meta = { flag, buffer: Buffer.alloc(size), fill: 0 };
      this.dataSize = size;
      if (size === 0) this.onMeta(flag, this.meta.buffer);
      else this.state = 'meta';
      return;
    }

    const pending = this.pending;
    this.pending = { chain: 0 };
    if (pending.paxPath !== undefined && pending.gnuPath !== undefined) {
      throw invalid(`Archive entry ${describeName(pending.paxPath)} has both a pax path and a GNU long name; only one path per entry is allowed.`);
    }
    if (pending.paxLinkpath !== undefined && pending.gnuLinkpath !== undefined) {
      throw invalid(`Archive entry ${describeName(headerPath)} has both a pax link path and a GNU long link name; only one link target per entry is allowed.`);
    }
    let path = pending.paxPath ?? pending.gnuPath ?? headerPath;
    const linkpath = pending.paxLinkpath ?? pending.gnuLinkpath ?? readString(block, 157, 100);
    const dataSize = pending.paxSize ?? size;

    let type: TarEntryType;
    switch (flag) {
      case '0':
      case '7':
        // Old tars mark directories as regular files with a trailing slash.
        type = path.endsWith('/') && dataSize === 0 ? 'directory' : 'file';
        break;
      case '5':
        type = 'directory';
        break;
      case '2':
        type = 'symlink';
        break;
      case '1':
        type = 'hardlink';
        break;
      case '3':
      case '4':
        throw invalid(`Archive entry ${describeName(path)} is a ${flag === '3' ? 'character' : 'block'} device; only regular files, folders and symlinks are allowed.`);
      case '6':
        throw invalid(`Archive entry ${describeName(path)} is a FIFO (named pipe); only regular files, folders and symlinks are allowed.`);
      default:
        throw invalid(`Archive entry ${describeName(path)} has the unsupported tar type ${JSON.stringify(flag)}; only regular files, folders and symlinks are allowed.`);
    }
    if (type !== 'file' && dataSize !== 0) {
      throw corrupt(`the ${type} entry ${describeName(path)} carries data`);
    }
    if (type === 'directory') path = path.replace(/\/+$/, '');
    const mode = readNumber(block, 100, 8, 'mode');
    events.push({ kind: 'entry', entry: { path, type, size: dataSize, mode, linkpath: type === 'symlink' || type === 'hardlink' ? linkpath : '' } });
    this.dataSize = dataSize;
    if (dataSize === 0) {
      events.push({ kind: 'entry-end' });
      this.state = 'header';
    } else {
      this.state = 'data';
      this.remaining = dataSize;
    }
  }

  private onMeta(flag: string, payload: Buffer): void {
    this.meta = undefined;
    if (flag === 'L' || flag === 'K') {
      const end = payload.indexOf(0);
      const value = payload.subarray(0, end < 0 ? payload.length : end);
      if (end >= 0 && !payload.subarray(end).every((b) => b === 0)) {
        throw invalid(`A GNU long ${flag === 'L' ? 'name' : 'link name'} in the archive contains a NUL byte; only relative paths inside the function folder are allowed.`);
      }
      if (flag === 'L') this.pending.gnuPath = value.toString('utf8');
      else this.pending.gnuLinkpath = value.toString('utf8');
    } else {
      const records = parsePax(payload);
      if (flag === 'g') {
        for (const key of ['path', 'linkpath', 'size']) {
          if (records.has(key)) {
            throw invalid(`The archive has a global pax header setting ${JSON.stringify(key)}; only per-entry pax headers may set paths or sizes.`);
          }
        }
      } else {
        const path = records.get('path');
        const linkpath = records.get('linkpath');
        const sizeText = records.get('size');
        if (path !== undefined) this.pending.paxPath = path;
        if (linkpath !== undefined) this.pending.paxLinkpath = linkpath;
        if (sizeText !== undefined) {
          if (!/^[0-9]{1,16}$/.test(sizeText)) throw corrupt('a pax size record is not a number');
          this.pending.paxSize = Number(sizeText);
        }
      }
    }
    this.skipPadding();
  }
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar field overflow for ${value}`);
  bytes.copy(block, offset);
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits, zero padded, then NUL.
  const text = value.toString(8).padStart(length - 1, '0');
  if (text.length > length - 1) throw new Error('tar numeric field overflow');
  block.write(`${text}\0`, offset, length, 'latin1');
}

function makeHeader(fields: { name: string; prefix: string; mode: number; size: number; flag: string; linkname: string }): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, 0, 100, fields.name);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, 0); // mtime
  block.write(fields.flag, 156, 1, 'latin1');
  writeString(block, 157, 100, fields.linkname);
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  // uname / gname stay empty; devmajor / devminor are zero.
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  writeString(block, 345, 155, fields.prefix);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i];
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return Buffer.from(`${length}${body}`, 'utf8');
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Splits a path into ustar (prefix, name), or returns undefined when it does not fit. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') {
      return { prefix, name };
    }
  }
  return undefined;
}

/**
 * Serialises entries as a deterministic ustar stream: uid/gid 0, no owner names,
 * mtime 0, pax headers only when a path or link target does not fit ustar's fields.
 * The caller decides order and modes.
 */
export function writeTar(entries: readonly TarWriteEntry[]): Buffer[] {
  const out: Buffer[] = [];
  for (const entry of entries) {
    const fullPath = entry.type === 'directory' ? `${entry.path}/` : entry.path;
    const data = entry.type === 'file' ? (entry.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const linkname = entry.type === 'symlink' ? (entry.linkpath ?? '') : '';
    const split = splitUstar(fullPath);
    const linkFits = Buffer.byteLength(linkname) <= 100;
    const sizeFits = data.length < 8 ** 11;
    if (!split || !linkFits || !sizeFits) {
      const records: Buffer[] = [];
      if (!split) records.push(paxRecord('path', fullPath));
      if (!linkFits) records.push(paxRecord('linkpath', linkname));
      if (!sizeFits) records.push(paxRecord('size', String(data.length)));
      const payload = Buffer.concat(records);
      const base = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      const paxName = `PaxHeaders/${Buffer.from(base).subarray(0, 80).toString('utf8').replace(/\uFFFD+$/, '')}`;
      out.push(makeHeader({ name: paxName, prefix: '', mode: 0o644, size: payload.length, flag: 'x', linkname: '' }), payload, padding(payload.length));
    }
    const fallbackName = Buffer.from(fullPath).subarray(0, 100).toString('utf8').replace(/\uFFFD+$/, '');
    const { prefix, name } = split ?? { prefix: '', name: fallbackName };
    const flag = entry.type === 'file' ? '0' : entry.type === 'directory' ? '5' : '2';
    out.push(makeHeader({
      name,
      prefix,
      mode: entry.mode,
      size: sizeFits ? data.length : 0,
      flag,
      linkname: linkFits ? linkname : '',
    }));
    if (data.length > 0) out.push(data, padding(data.length));
  }
  out.push(Buffer.alloc(BLOCK * 2));
  return out;
}
