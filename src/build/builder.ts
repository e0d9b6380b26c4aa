/**
 * The build contract: turning an uploaded code tree into what a replica runs
 * (dependencies installed, TypeScript or Go compiled). One builder per runtime;
 * the {@link BuildService} caches results by content, so an unchanged function is
 * never rebuilt, and keeps every build's log.
 */
import type { FunctionSpec, Runtime } from '../core/index.js';

export interface BuildRequest {
  spec: FunctionSpec;
  /** The uploaded code, unpacked and read-only. */
  sourceDir: string;
  /** An empty, writable folder; it becomes the artifact unless the result says otherwise. */
  outDir: string;
  /** Appends a line to the build log (shown by `kss logs --build`). */
  log(line: string): void;
  signal: AbortSignal;
}

export interface BuildResult {
  /**
   * `source`: nothing to build, replicas run the source tree as it is (outDir is
   * discarded); `out`: replicas run outDir.
   */
  use: 'source' | 'out';
  /** Entry file the replica must load instead of the spec's `handler` (e.g. compiled TypeScript). */
  handler?: string;
}

export interface RuntimeBuilder {
  readonly runtime: Runtime;
  /** Bumped when the builder's output changes, so cached artifacts are rebuilt. */
  readonly version: string;
  /**
   * Builds, or throws `KSS_BUILD_FAILED` (the compiler's or installer's message,
   * file and line included) or `KSS_INVALID_HANDLER` (entry point missing, naming the
   * file and the expected signature).
   */
  build(request: BuildRequest): Promise<BuildResult>;
}
