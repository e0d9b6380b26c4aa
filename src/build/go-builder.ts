/**
 * Go functions: the uploaded tree is copied into the artifact folder, the runtime's
 * wrapper (`runtimes/go/main.go`, standard library only) is added beside the user's
 * `func Handle(w http.ResponseWriter, r *http.Request)`, and everything is compiled
 * into one static binary, `kss-function`, which the replica runs.
 *
 * Two layouts work:
 * - `package main` (the Kube-Serverless template): the wrapper joins the user's
 *   package as `kss_main.go`;
 * - any other package name (the OpenFaaS golang-http/golang-middleware templates'
 *   `package function`): the wrapper is a `package main` in `kss_main/` that imports
 *   the user's package by its module path.
 *
 * Builds are offline and reproducible: the standard library and whatever is vendored
 * or already in the module cache, `GOPROXY=off`, `CGO_ENABLED=0`, `-trimpath`. The
 * build cache lives in the data dir (`<builds>/.go-cache`, or `KSS_GO_CACHE`), so only
 * the first Go build of a data dir compiles net/http (about 20 s on 2 cores).
 */
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KssError } from '../core/index.js';
import type { BuildRequest, BuildResult, RuntimeBuilder } from './builder.js';
import { runCommand } from './run-command.js';

/** `runtimes/go/main.go` at the repository root, from the compiled `dist/src/build/`. */
export const GO_WRAPPER_SOURCE = fileURLToPath(new URL('../../../runtimes/go/main.go', import.meta.url));
/** The binary a Go replica runs, relative to its artifact folder. */
export const GO_BINARY = 'kss-function';
/** The signature the runtime calls. */
export const GO_HANDLE_SIGNATURE = 'func Handle(w http.ResponseWriter, r *http.Request)';

const WRAPPER_FILE = 'kss_main.go';
const BINDING_FILE = 'kss_handle.go';
const WRAPPER_PACKAGE_DIR = 'kss_main';

export interface GoBuilderOptions {
  /** The `go` command (default `go` on PATH). */
  go?: string;
  /** Build cache shared by every Go build (default `KSS_GO_CACHE`, else `<builds>/.go-cache`). */
  cacheDir?: string;
}

export class GoBuilder implements RuntimeBuilder {
  readonly runtime = 'go' as const;
  /** Includes the wrapper's digest: a changed runtime rebuilds every Go function. */
  readonly version: string;
  readonly #go: string;
  readonly #cacheDir: string | undefined;

  constructor(options: GoBuilderOptions = {}) {
    this.#go = options.go ?? 'go';
    this.#cacheDir = options.cacheDir;
    this.version = `1-${existsSync(GO_WRAPPER_SOURCE) ? createHash('sha256').update(readFileSync(GO_WRAPPER_SOURCE)).digest('hex').slice(0, 12) : 'missing'}`;
  }

  async build(req: BuildRequest): Promise<BuildResult> {
    const { sourceDir, outDir, spec } = req;
    const handlerFile = findHandlerFile(sourceDir, spec.handler);
    const pkgDir = posix.dirname(handlerFile);
    const pkgFiles = goFiles(join(sourceDir, pkgDir));
    const sources = pkgFiles.map((f) => ({ file: pkgDir === '.' ? f : `${pkgDir}/${f}`, text: readFileSync(join(sourceDir, pkgDir, f), 'utf8') }));
    const handlerSource = sources.find((s) => s.file === handlerFile)!;
    const pkgName = packageName(handlerSource.text) ?? fail(`${handlerFile}: no package clause; start it with \`package main\``);
    const declaring = sources.find((s) => /^(?:func\s+Handle\s*\(|var\s+Handle\b)/m.test(stripComments(s.text)));
    if (!declaring) {
      fail(`${handlerFile}: no Handle function in package ${pkgName}; a Go function defines\n  ${GO_HANDLE_SIGNATURE}`);
    }
    const mainMode = pkgName === 'main';
    if (mainMode) {
      for (const s of sources) {
        const line = lineOf(stripComments(s.text), /^func\s+main\s*\(/m);
        if (line) fail(`${s.file}:${line}: func main belongs to the runtime, which calls Handle; remove it (keep ${GO_HANDLE_SIGNATURE})`);
      }
    }

    cpSync(sourceDir, outDir, { recursive: true });
    makeWritable(outDir);
    const goMod = join(outDir, 'go.mod');
    if (!existsSync(goMod)) {
      req.log('no go.mod: using `module function`, go 1.19');
      writeFileSync(goMod, 'module function\n\ngo 1.19\n');
    }
    const wrapper = readFileSync(GO_WRAPPER_SOURCE, 'utf8');
    let target: string;
    let bindingPath: string;
    if (mainMode) {
      target = pkgDir === '.' ? '.' : `./${pkgDir}`;
      writeFileSync(join(outDir, pkgDir, WRAPPER_FILE), wrapper);
      bindingPath = posix.join(pkgDir, BINDING_FILE);
      writeFileSync(join(outDir, bindingPath), binding('Handle'));
    } else {
      const modulePath = moduleOf(readFileSync(goMod, 'utf8')) ?? fail('go.mod: no module line');
      const importPath = pkgDir === '.' ? modulePath : `${modulePath}/${pkgDir}`;
      const wrapperDir = join(outDir, WRAPPER_PACKAGE_DIR);
      mkdirSync(wrapperDir, { recursive: true });
      writeFileSync(join(wrapperDir, 'main.go'), wrapper);
      bindingPath = `${WRAPPER_PACKAGE_DIR}/${BINDING_FILE}`;
      writeFileSync(join(outDir, bindingPath), binding('function.Handle', importPath));
      target = `./${WRAPPER_PACKAGE_DIR}`;
      req.log(`${handlerFile} is package ${pkgName}: the runtime imports it as ${importPath}`);
    }

    const builds = dirname(outDir);
    const cache = this.#cacheDir ?? process.env.KSS_GO_CACHE ?? join(builds, '.go-cache');
    const goPath = join(builds, '.go-path');
    mkdirSync(cache, { recursive: true });
    mkdirSync(goPath, { recursive: true });
    const vendored = existsSync(join(outDir, 'vendor', 'modules.txt'));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: goPath,
      GOCACHE: cache,
      GOPATH: goPath,
      GOENV: 'off',
      GOWORK: 'off',
      GO111MODULE: 'on',
      GOTOOLCHAIN: 'local',
      GOTELEMETRY: 'off',
      // Offline: the standard library, vendored modules, or modules already in the cache.
      GOPROXY: 'off',
      GOSUMDB: 'off',
      GOFLAGS: vendored ? '-mod=vendor' : '-mod=mod',
      CGO_ENABLED: '0',
    };
    req.log(`compiling ${target} with go build (cache ${cache === join(builds, '.go-cache') ? '<builds>/.go-cache' : cache})`);
    const result = await runCommand(this.#go, ['build', '-trimpath', '-ldflags=-s -w', '-o', GO_BINARY, target], {
      cwd: outDir,
      env,
      log: req.log,
      signal: req.signal,
      timeoutMs: 300_000,
    });
    if (result.code === 0) return { use: 'out' };
    if (result.code === -1 || result.tail.some((l) => l.startsWith(`cannot run ${this.#go}:`))) {
      throw new KssError('KSS_BUILD_FAILED', `Go functions need the Go toolchain (\`go\`, 1.19 or newer) on the gateway's machine; it could not be run`);
    }
    const lines = compilerLines(result.tail, outDir);
    const bindingErrors = lines.filter((l) => l.startsWith(`${bindingPath}:`));
    if (bindingErrors.length) {
      const have = bindingErrors.map((l) => /\(value of type ([^)]*\)[^)]*)\)/.exec(l)?.[1]).find(Boolean);
      throw new KssError(
        'KSS_INVALID_HANDLER',
        `${declaring!.file}: Handle must be ${GO_HANDLE_SIGNATURE}${have ? `; it is ${have}` : ''}` +
          (lines.length > bindingErrors.length ? `\n${lines.filter((l) => !bindingErrors.includes(l)).join('\n')}` : ''),
      );
    }
    const offline = lines.some((l) => /GOPROXY=off|module lookup disabled|cannot find module providing package/.test(l))
      ? '\n(builds are offline: vendor third-party modules with `go mod vendor` and deploy the vendor/ folder)'
      : '';
    throw new KssError('KSS_BUILD_FAILED', `go build failed for "${spec.service}":\n${lines.join('\n') || `exit ${result.code}`}${offline}`);
  }
}

function fail(message: string): never {
  throw new KssError('KSS_INVALID_HANDLER', message);
}

/** The handler file (relative, `/`-separated): `spec.handler` (a .go file or a folder with one), else handler.go or the root .go file declaring Handle. */
function findHandlerFile(sourceDir: string, handler: string | undefined): string {
  const expected = `a Go function needs handler.go (package main) with\n  ${GO_HANDLE_SIGNATURE}`;
  if (handler) {
    const rel = posix.normalize(handler.replaceAll('\\', '/')).replace(/\/$/, '');
    const abs = join(sourceDir, rel);
    if (!existsSync(abs)) fail(`${rel}: no such file in the function's folder; ${expected}`);
    if (lstatSync(abs).isDirectory()) {
      const files = goFiles(abs);
      const pick = files.includes('handler.go') ? 'handler.go' : files.find((f) => declaresHandle(join(abs, f)));
      if (!pick) fail(`${rel}/: no .go file declares Handle; ${expected}`);
      return rel === '.' ? pick : `${rel}/${pick}`;
    }
    if (extname(rel) !== '.go') fail(`${rel}: not a .go file; ${expected}`);
    return rel;
  }
  if (existsSync(join(sourceDir, 'handler.go'))) return 'handler.go';
  const files = goFiles(sourceDir);
  const pick = files.find((f) => declaresHandle(join(sourceDir, f)));
  if (pick) return pick;
  fail(files.length ? `handler.go: not found, and no .go file declares Handle; ${expected}` : `handler.go: not found; ${expected}`);
}

/** The package's compiled .go files (tests and the runtime's own files excluded). */
function goFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.go') && !d.name.endsWith('_test.go') && d.name !== WRAPPER_FILE && d.name !== BINDING_FILE)
    .map((d) => d.name)
    .sort();
}

function declaresHandle(file: string): boolean {
  return /^(?:func\s+Handle\s*\(|var\s+Handle\b)/m.test(stripComments(readFileSync(file, 'utf8')));
}

/** Removes comments (keeping line breaks, so line numbers stay right); good enough for finding declarations. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

function packageName(text: string): string | undefined {
  return /^package\s+([A-Za-z_]\w*)/m.exec(stripComments(text))?.[1];
}

function moduleOf(goMod: string): string | undefined {
  const m = /^module\s+("?)([^"\s]+)\1/m.exec(stripComments(goMod));
  return m?.[2];
}

function lineOf(text: string, pattern: RegExp): number | undefined {
  const m = pattern.exec(text);
  return m ? text.slice(0, m.index).split('\n').length : undefined;
}

/** The Go file that binds the user's Handle to the runtime. */
function binding(ref: string, importPath?: string): string {
  const imports = importPath ? `import (\n\t"net/http"\n\n\tfunction ${JSON.stringify(importPath)}\n)` : 'import "net/http"';
  return `// Generated by Kube-Serverless: binds the function's Handle to the runtime (kss_main.go).\npackage main\n\n${imports}\n\nvar kssUserHandle func(w http.ResponseWriter, r *http.Request) = ${ref}\n`;
}

/** The compiler's lines, with paths relative to the function's folder. */
function compilerLines(tail: string[], outDir: string): string[] {
  return tail
    .filter((l) => !l.startsWith('$ ') && !l.startsWith('# ') && l.trim() !== '')
    .map((l) => l.replaceAll(`${outDir}/`, '').replaceAll(outDir, '.').replace(/^\.\//, '').replaceAll(' ./', ' '));
}

/** The code store's trees are read-only; the copy must take the wrapper, go.mod/go.sum updates and the binary. */
function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) makeWritable(path);
    else if (entry.isFile()) chmodSync(path, lstatSync(path).mode & 0o111 ? 0o755 : 0o644);
  }
}
