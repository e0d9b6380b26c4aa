/** Packages a function's folder and uploads it: the first steps of `kss build` and `kss deploy`. */
import { packDirectory } from '../archive/index.js';
import type { KssClient } from '../client/index.js';
import type { Output } from './output.js';
import type { StackFunction } from './stack-file.js';

/** Uploads `fn`'s folder; returns the spec to send, with `code` set. */
export async function uploadFunction(client: KssClient, fn: StackFunction, out: Output, extra: Record<string, unknown> = {}): Promise<Record<string, unknown> & { service: string }> {
  const spec: Record<string, unknown> & { service: string } = { ...fn.spec, ...extra, service: fn.name };
  // A function deployed from an image with fprocess and no folder has nothing to upload.
  if (!fn.codeDir) return spec;
  out.progress(`${fn.name}: packaging ${fn.codeDir}`);
  const archive = await packDirectory(fn.codeDir);
  out.progress(`${fn.name}: uploading ${formatBytes(archive.length)}`);
  const code = await client.uploadCode(archive);
  spec.code = code.digest;
  return spec;
}

/** Builds on the gateway (cached by content) and reports it; throws with the build output on failure. */
export async function buildFunction(client: KssClient, spec: Record<string, unknown> & { service: string }, out: Output): Promise<{ key: string; cached: boolean; log: string }> {
  out.progress(`${spec.service}: building (${String(spec.runtime ?? 'node')})`);
  const started = Date.now();
  const result = await client.build(spec);
  out.progress(`${spec.service}: ${result.cached ? 'build unchanged, reused' : `built in ${((Date.now() - started) / 1000).toFixed(1)}s`}`);
  return result;
}

export function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
