/**
 * Code archives: deterministic packing of a function's folder and safe, all-or-nothing
 * extraction of untrusted tar.gz uploads.
 */

export { DEFAULT_EXCLUDES, packDirectory } from './pack-directory.js';
export type { PackOptions } from './pack-directory.js';
export { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, extractArchive, removeExtractedTree } from './extract-archive.js';
export type { ExtractOptions, ExtractResult } from './extract-archive.js';
