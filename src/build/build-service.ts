/**
 * Builds functions on the gateway's machine from their uploaded archive (so a remote
 * CLI works the same), caches artifacts by content hash, keeps each build's log, and
 * serves the artifact folder replicas run from.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { KssError, type FunctionSpec, type Runtime } from '../core/index.js';
import type { CodeStore } from '../store/index.js';
import type { RuntimeBuilder } from './builder.js';

export interface BuildOutcome {
  /** Content key of the build (same inputs → same key). */
  key: string;
  /** Folder replicas run from. */
  dir: string;
  /** True when an earlier build was reused. */
  cached: boolean;
  /** Entry file replicas load, when the build decided it (compiled TypeScript). */
  handler?: string;
}

export interface BuildServiceOptions {
  /** Where artifacts and logs live (`<data>/builds`). */
  dir: string;
  code: CodeStore;
  builders: Partial<Record<Runtime, RuntimeBuilder>>;
  logger: Logger;
}

interface Marker {
  use: 'source' | 'out';
  handler?: string;
}

/** Where a built function runs from. */
export interface Artifact {
  dir: string;
  handler?: string;
}

export class BuildService {
  readonly #dir: string;
  readonly #code: CodeStore;
  readonly #builders: Partial<Record<Runtime, RuntimeBuilder>>;
  readonly #logger: Logger;
  readonly #inFlight = new Map<string, Promise<BuildOutcome>>();

  constructor(options: BuildServiceOptions) {
    this.#dir = options.dir;
    this.#code = options.code;
    this.#builders = options.builders;
    this.#logger = options.logger;
    mkdirSync(this.#dir, { recursive: true });
  }

  /** Runtimes that can be built here. */
  get runtimes(): Runtime[] {
    return Object.keys(this.#builders) as Runtime[];
  }

  /** The cache key: everything that changes what a build produces. */
  key(spec: FunctionSpec): string {
    const builder = this.#builders[spec.runtime];
    return createHash('sha256')
      .update(JSON.stringify({ runtime: spec.runtime, code: spec.code ?? null, handler: spec.handler ?? null, envProcess: spec.envProcess ?? null, builder: builder?.version ?? null }))
      .digest('hex')
      .slice(0, 32);
  }

  /** Builds `spec` unless an artifact for the same inputs exists; concurrent calls share one build. */
  ensureBuilt(spec: FunctionSpec): Promise<BuildOutcome> {
    const key = this.key(spec);
    const existing = this.#artifact(key, spec);
    if (existing) return Promise.resolve({ key, ...existing, cached: true });
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#build(key, spec).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  /** The artifact of an already built spec (sync: the provider calls it when starting replicas). */
  artifact(spec: FunctionSpec): Artifact {
    const artifact = this.#artifact(this.key(spec), spec);
    if (!artifact) throw new KssError('KSS_BUILD_FAILED', `function "${spec.service}" has not been built; deploy it again`);
    return artifact;
  }

  /** The log of the build for `spec` (the last attempt), or undefined. */
  log(spec: FunctionSpec): string | undefined {
    const file = join(this.#dir, `${this.key(spec)}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  #artifact(key: string, spec: FunctionSpec): Artifact | undefined {
    const markerFile = join(this.#dir, `${key}.json`);
    if (!existsSync(markerFile)) return undefined;
    const marker = JSON.parse(readFileSync(markerFile, 'utf8')) as Marker;
    const dir = marker.use === 'source' ? this.#sourceDir(spec) : join(this.#dir, key);
    return marker.handler ? { dir, handler: marker.handler } : { dir };
  }

  /** The uploaded tree, or an empty read-only folder for a function deployed without code. */
  #sourceDir(spec: FunctionSpec): string {
    if (spec.code) return this.#code.treePath(spec.code);
    const empty = join(this.#dir, 'empty');
    if (!existsSync(empty)) mkdirSync(empty, { recursive: true, mode: 0o555 });
    return empty;
  }

  async #build(key: string, spec: FunctionSpec): Promise<BuildOutcome> {
    const builder = this.#builders[spec.runtime];
    if (!builder) throw new KssError('KSS_UNSUPPORTED_RUNTIME', `runtime "${spec.runtime}" cannot be built here; available: ${this.runtimes.join(', ')}`);
    // Without code, only a command deployed from an image (envProcess: exec, http) can run, from an empty folder.
    if (!spec.code && !spec.envProcess) throw new KssError('KSS_CODE_REQUIRED', `function "${spec.service}" has no code to build`);
    const sourceDir = this.#sourceDir(spec);
    const logFile = join(this.#dir, `${key}.log`);
    const outDir = join(this.#dir, `.${key}.tmp-${randomBytes(4).toString('hex')}`);
    writeFileSync(logFile, `build of ${spec.service} (${spec.runtime}) from ${spec.code ?? `envProcess of ${spec.image}`} at ${new Date().toISOString()}\n`);
    mkdirSync(outDir, { recursive: true });
    const started = Date.now();
    const log = (line: string) => appendFileSync(logFile, `${line}\n`);
    try {
      const result = await builder.build({ spec, sourceDir, outDir, log, signal: new AbortController().signal });
      if (result.use === 'out') await rename(outDir, join(this.#dir, key));
      else rmSync(outDir, { recursive: true, force: true });
      // The marker is written last: its presence means the artifact is complete.
      writeFileSync(join(this.#dir, `${key}.json`), JSON.stringify({ use: result.use, ...(result.handler ? { handler: result.handler } : {}) } satisfies Marker));
      log(`build succeeded in ${Date.now() - started} ms`);
      this.#logger.info({ function: `${spec.service}.${spec.namespace}`, runtime: spec.runtime, ms: Date.now() - started }, 'function built');
      return { key, ...this.#artifact(key, spec)!, cached: false };
    } catch (err) {
      rmSync(outDir, { recursive: true, force: true });
      log(`build failed: ${(err as Error).message}`);
      throw err;
    }
  }
}
