/**
 * Finds the user's handler file, imports it, and decides which of the two
 * supported handler forms it is written in.
 *
 * Form 1, web-standard (`kind: 'web'`):
 *   `export default async (req: Request) => Response | string | object`
 *   (also an object with a `fetch(req)` method, as Hono/Bun/Workers apps export).
 * Form 2, the OpenFaaS node template (`kind: 'openfaas'`):
 *   `module.exports = async (event, context) => …`
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Entry files tried, in this order, when `KSS_HANDLER` is not set (or names a directory). */
export const HANDLER_CANDIDATES: readonly string[] = [
  'handler.js',
  'handler.mjs',
  'handler.cjs',
  'index.js',
  'index.mjs',
  'index.cjs',
];

/** Human-readable description of both accepted handler signatures, used in load errors. */
export const EXPECTED_SIGNATURES = [
  'Expected one of:',
  '  export default async (req) => Response | string | object        (web-standard Request)',
  '  module.exports = async (event, context) => { ... }             (OpenFaaS node template)',
  '  export default async (event, context) => { ... }               (OpenFaaS form as ESM)',
].join('\n');

/** A user function of the web-standard form. */
export type WebHandler = (req: Request) => unknown;
/** A user function of the OpenFaaS form; the third argument is the template's callback `(err, result)`. */
export type OpenFaasHandler = (event: unknown, context: unknown, callback: (err?: unknown, result?: unknown) => void) => unknown;

/** The loaded handler, tagged with the form the runtime must call it in. */
export type LoadedHandler =
  | { kind: 'web'; fn: WebHandler; file: string }
  | { kind: 'openfaas'; fn: OpenFaasHandler; file: string };

/**
 * A handler that cannot be loaded (missing file, no usable export, or an
 * error thrown while importing). The runtime prints it and exits with code 3.
 */
export class HandlerLoadError extends Error {
  override readonly name = 'HandlerLoadError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function firstCandidate(dir: string): string | undefined {
  for (const name of HANDLER_CANDIDATES) {
    const path = join(dir, name);
    if (isFile(path)) return path;
  }
  return undefined;
}

/**
 * Resolves the handler file: `handler` (relative to `codeDir`, or absolute)
 * when given, else the first of {@link HANDLER_CANDIDATES} in `codeDir`. A
 * `handler` naming a directory is searched for the same candidates, so an
 * OpenFaaS-style `handler: ./function` works too.
 *
 * @throws HandlerLoadError naming the file(s) looked for when none exists.
 */
export function resolveHandlerFile(codeDir: string, handler?: string): string {
  if (handler) {
    const path = isAbsolute(handler) ? handler : resolve(codeDir, handler);
    if (isFile(path)) return path;
    if (isDirectory(path)) {
      const found = firstCandidate(path);
      if (found) return found;
      throw new HandlerLoadError(
        `handler directory ${path} contains none of: ${HANDLER_CANDIDATES.join(', ')}`,
      );
    }
    throw new HandlerLoadError(`handler file ${path} does not exist (KSS_HANDLER=${handler}, code directory ${codeDir})`);
  }
  if (!isDirectory(codeDir)) throw new HandlerLoadError(`code directory ${codeDir} does not exist (KSS_CODE_DIR)`);
  const found = firstCandidate(codeDir);
  if (found) return found;
  throw new HandlerLoadError(
    `no handler file in ${codeDir}: looked for ${HANDLER_CANDIDATES.join(', ')} (set KSS_HANDLER to choose another file)`,
  );
}

/**
 * Classifies a module namespace into a handler form:
 * - a CommonJS module whose `module.exports` is a function → OpenFaaS form;
 * - otherwise its default export (ESM `export default`, or CJS `exports.default`)
 *   → OpenFaaS form when it declares 2+ parameters, else web form;
 * - a default export that is an object with a `fetch` method → web form.
 *
 * Note `length` counts parameters before the first one with a default value
 * or a rest parameter: write `(event, context)`, not `(event, context = {})`.
 *
 * @returns the handler, or `undefined` when the module exports nothing usable.
 */
export function classifyModule(
  file: string,
  namespace: Record<string, unknown>,
  cjsExports: { found: boolean; value?: unknown },
): LoadedHandler | undefined {
  if (cjsExports.found) {
    const exported = cjsExports.value;
    if (typeof exported === 'function') return { kind: 'openfaas', fn: exported as OpenFaasHandler, file };
    const inner = exported !== null && typeof exported === 'object' ? (exported as Record<string, unknown>).default : undefined;
    return classifyDefault(file, inner);
  }
  return classifyDefault(file, namespace.default);
}

function classifyDefault(file: string, value: unknown): LoadedHandler | undefined {
  if (typeof value === 'function') {
    return value.length >= 2
      ? { kind: 'openfaas', fn: value as OpenFaasHandler, file }
      : { kind: 'web', fn: value as WebHandler, file };
  }
  if (value !== null && typeof value === 'object') {
    const fetchFn = (value as { fetch?: unknown }).fetch;
    if (typeof fetchFn === 'function') {
      return { kind: 'web', fn: (req: Request) => (fetchFn as (r: Request) => unknown).call(value, req), file };
    }
  }
  return undefined;
}

/**
 * Resolves, loads and classifies the handler: with `require` when it can (fast,
 * see requireModule), else `import()`; both ESM and CommonJS (and, under
 * `--experimental-detect-module`, a `.js` file written either way without a
 * package.json) load the same way.
 *
 * @throws HandlerLoadError with a message naming the file and, for a missing
 *   export, the expected signatures.
 */
export async function loadHandler(codeDir: string, handler?: string): Promise<LoadedHandler> {
  const file = resolveHandlerFile(codeDir, handler);
  let namespace: Record<string, unknown>;
  let cjsExports: { found: boolean; value?: unknown };
  try {
    ({ namespace, cjsExports } = requireModule(file) ?? (await importModule(file)));
  } catch (err) {
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    throw new HandlerLoadError(`handler file ${file} failed to load:\n${detail}`, { cause: err });
  }
  const loaded = classifyModule(file, namespace, cjsExports);
  if (!loaded) {
    const exportedNames = Object.keys(namespace).join(', ') || '(none)';
    throw new HandlerLoadError(
      `handler file ${file} exports no usable function (exports: ${exportedNames}).\n${EXPECTED_SIGNATURES}`,
    );
  }
  return loaded;
}

interface LoadedModule {
  namespace: Record<string, unknown>;
  cjsExports: { found: boolean; value?: unknown };
}

/** Errors that mean "this file is an ES module `require` cannot load": nothing of it has run yet. */
const NOT_FOR_REQUIRE = new Set(['ERR_REQUIRE_ESM', 'ERR_REQUIRE_ASYNC_MODULE', 'ERR_UNKNOWN_FILE_EXTENSION']);

/**
 * Loads the file with `require` when it can, the synchronous loader: measured in a
 * warm-pool process, a small handler loads in 0.4-0.7 ms this way against 1.5-15 ms
 * through `import()` (the ES loader's asynchronous reads), and this sits on every
 * cold start. Node 20.19+ also requires ES modules without top-level await. Returns
 * undefined for what only `import()` can load (`.mjs`, ES syntax on a Node that cannot
 * require it, top-level await); such a file has not run, so importing it after is safe.
 */
function requireModule(file: string): LoadedModule | undefined {
  if (file.endsWith('.mjs')) return undefined;
  let exported: unknown;
  try {
    exported = createRequire(file)(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_FOR_REQUIRE.has(code)) return undefined;
    // ES syntax under a Node without require(esm): a parse error, before anything ran.
    if (err instanceof SyntaxError && /import|export|top-level await/i.test(err.message)) return undefined;
    throw err;
  }
  if (Object.prototype.toString.call(exported) === '[object Module]') {
    // An ES module loaded through require(esm): its namespace, like import() gives.
    return { namespace: exported as Record<string, unknown>, cjsExports: { found: false } };
  }
  return { namespace: { default: exported }, cjsExports: { found: true, value: exported } };
}

/** Imports the file by URL: ES modules and, under `--experimental-detect-module`, typeless `.js` either way. */
async function importModule(file: string): Promise<LoadedModule> {
  const namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  // A CommonJS module imported from ESM is in require.cache (Node 20), and on
  // newer Node also exposes its exports as the 'module.exports' name.
  const cached = createRequire(file).cache[file];
  const cjsExports = 'module.exports' in namespace
    ? { found: true, value: namespace['module.exports'] }
    : cached
      ? { found: true, value: cached.exports }
      : { found: false };
  return { namespace, cjsExports };
}
