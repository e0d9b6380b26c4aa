/**
 * Python functions: the handler is parsed (not run) to check it has a top-level
 * `def handle(event, context)`, and a `requirements.txt` with requirements is
 * installed with `pip install --target .python_packages` into a copy of the tree
 * (the runtime puts that folder first on sys.path). A function without
 * requirements runs from its source tree as it is. Last, the modules the handler
 * imports at its top level are looked for (not imported) on the sys.path a replica
 * will have, so a missing dependency fails the deploy instead of crash-looping.
 */
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KssError } from '../core/index.js';
import type { BuildRequest, BuildResult, RuntimeBuilder } from './builder.js';
import { resolvePythonInterpreter } from './python-interpreter.js';
import { runCommand } from './run-command.js';

/** `runtimes/python/check.py` at the repository root, from this compiled file (`dist/src/build/`): .py files are not compiled. */
export const PYTHON_CHECK_ENTRY = fileURLToPath(new URL('../../../runtimes/python/check.py', import.meta.url));
/** The runtime's implementation module (runtimes/python/server.py is its small entry script). */
export const PYTHON_RUNTIME_MODULE = join(dirname(PYTHON_CHECK_ENTRY), 'kss_runtime.py');
export const PYTHON_HANDLER_FILE = 'handler.py';
/** Where dependencies are installed inside the artifact; the runtime puts it first on sys.path. */
export const PYTHON_PACKAGES_DIR = '.python_packages';
const EXPECTED = 'def handle(event, context):\n    return "Hello"';
const PIP_TIMEOUT_MS = 300_000;

/** pip output that means it could not reach a package index (DNS, refused, timed out, proxy, TLS). */
const UNREACHABLE = [
  /NewConnectionError/,
  /Failed to establish a new connection/,
  /Name or service not known/,
  /Temporary failure in name resolution/,
  /nodename nor servname/,
  /Network is unreachable/,
  /No route to host/,
  /Connection refused/,
  /ConnectTimeoutError|Connection to \S+ timed out/,
  /ProxyError/,
  /SSLError/,
  /Could not fetch URL/,
];

interface CheckResult {
  ok?: boolean;
  error?: 'syntax' | 'no-handle' | 'no-params';
  file?: string;
  line?: number | null;
  column?: number | null;
  message?: string;
  text?: string;
  kind?: string;
  form?: string;
}

export class PythonBuilder implements RuntimeBuilder {
  readonly runtime = 'python' as const;
  readonly version = '1';

  async build(req: BuildRequest): Promise<BuildResult> {
    const { sourceDir, outDir, spec } = req;
    const python = await resolvePythonInterpreter();
    await precompileRuntime(python);
    const entry = handlerEntry(sourceDir, spec.handler);
    await this.#check(req, python, entry);

    const deps = hasRequirements(join(sourceDir, 'requirements.txt'));
    if (deps) {
      cpSync(sourceDir, outDir, { recursive: true });
      makeFoldersWritable(outDir);
      await this.#install(req, python);
    }
    await this.#checkImports(req, python, deps ? outDir : sourceDir, entry);
    return { use: deps ? 'out' : 'source' };
  }

  /** A module the handler imports that no replica could find is the usual Python deploy failure: catch it here, not in a crash loop. */
  async #checkImports(req: BuildRequest, python: string, dir: string, entry: string): Promise<void> {
    const lines: string[] = [];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: process.env.LANG ?? 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' };
    // What changes a replica's sys.path besides the folder itself.
    for (const key of ['PYTHONPATH', 'KSS_PYTHON_SITE']) if (req.spec.envVars?.[key]) env[key] = req.spec.envVars[key];
    const r = await runCommand(python, ['-S', PYTHON_CHECK_ENTRY, 'imports', dir, join(dir, entry)], {
      cwd: dir,
      log: (line) => {
        lines.push(line);
        req.log(line);
      },
      signal: req.signal,
      timeoutMs: 30_000,
      env,
    });
    let missing: Array<{ module: string; line: number }> = [];
    try {
      missing = (JSON.parse(lines.filter((l) => l.startsWith('{')).pop() ?? '{}') as { missing?: typeof missing }).missing ?? [];
    } catch {
      missing = [];
    }
    if (r.code !== 0) {
      req.log('(the import check could not run; the replica will report any missing module)');
      return;
    }
    if (missing.length === 0) return;
    const list = missing.map((m) => `"${m.module}" (${entry}:${m.line})`).join(', ');
    throw new KssError(
      'KSS_BUILD_FAILED',
      `${entry} of "${req.spec.service}" imports ${missing.length === 1 ? 'a module' : 'modules'} that cannot be found: ${list}. ` +
        `Add ${missing.length === 1 ? 'it' : 'them'} to requirements.txt, or vendor ${missing.length === 1 ? 'it' : 'them'} into the function folder ` +
        `(beside ${PYTHON_HANDLER_FILE}, or in ${PYTHON_PACKAGES_DIR}/).`,
    );
  }

  async #check(req: BuildRequest, python: string, entry: string): Promise<void> {
    req.log(`checking ${entry}`);
    const lines: string[] = [];
    const r = await runCommand(python, ['-S', PYTHON_CHECK_ENTRY, 'handler', join(req.sourceDir, entry), entry], {
      cwd: req.sourceDir,
      log: (line) => {
        lines.push(line);
        req.log(line);
      },
      signal: req.signal,
      timeoutMs: 30_000,
      env: { PATH: process.env.PATH, LANG: process.env.LANG ?? 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' },
    });
    const json = lines.filter((l) => l.startsWith('{')).pop();
    let result: CheckResult | undefined;
    try {
      result = json ? (JSON.parse(json) as CheckResult) : undefined;
    } catch {
      result = undefined;
    }
    if (r.code !== 0 || !result) {
      const detail = lines.filter((l) => !l.startsWith('$ ')).slice(-10).join('\n').replaceAll(`${req.sourceDir}/`, '').replaceAll(req.sourceDir, '.');
      const missing = r.code === -1 ? ` (is Python 3 installed and python3 on PATH?)` : '';
      throw new KssError('KSS_BUILD_FAILED', `could not check ${entry} of "${req.spec.service}" with ${python}${missing}${detail ? `:\n${detail}` : ''}`);
    }
    if (result.error === 'syntax') {
      const at = [result.file ?? entry, result.line, result.column].filter((v) => v !== null && v !== undefined).join(':');
      let message = `${at}: ${result.kind ?? 'SyntaxError'}: ${result.message ?? 'invalid syntax'}`;
      if (result.text) {
        const text = result.text.replace(/\t/g, ' ');
        const indent = text.length - text.trimStart().length;
        message += `\n    ${text.trim()}`;
        if (result.column) message += `\n    ${' '.repeat(Math.max(0, result.column - 1 - indent))}^`;
      }
      throw new KssError('KSS_BUILD_FAILED', `syntax error in the handler of "${req.spec.service}":\n${message}`);
    }
    if (result.error === 'no-handle') {
      throw new KssError('KSS_INVALID_HANDLER', `${entry} has no top-level function "handle". Expected:\n${EXPECTED}`);
    }
    if (result.error === 'no-params') {
      throw new KssError('KSS_INVALID_HANDLER', `handle() in ${entry} (line ${result.line}) takes no parameters. Expected:\n${EXPECTED}`);
    }
    req.log(`${entry}: found ${result.form === 'bound' ? '"handle"' : `${result.form} handle(...)`}`);
  }

  async #install(req: BuildRequest, python: string): Promise<void> {
    const { outDir, spec } = req;
    let unreachable: string | undefined;
    let indexes = '';
    const notFound: string[] = [];
    const lines: string[] = [];
    req.log(`installing requirements.txt into ${PYTHON_PACKAGES_DIR} (pip install --target)`);
    const r = await runCommand(
      python,
      [
        '-m', 'pip', 'install',
        '--target', join(outDir, PYTHON_PACKAGES_DIR),
        '-r', join(outDir, 'requirements.txt'),
        '--disable-pip-version-check', '--no-input',
        // pip's default of 5 retries with back-off makes an unreachable index cost ~10 s per package.
        '--retries', '2',
      ],
      {
        cwd: outDir,
        log: (line) => {
          req.log(line);
          lines.push(line);
          if (lines.length > 60) lines.shift();
          if (!unreachable && UNREACHABLE.some((re) => re.test(line))) unreachable = line;
          if (line.startsWith('Looking in indexes:')) indexes = line;
          const m = /No matching distribution found for (.+)$/.exec(line);
          if (m) notFound.push(m[1]!.trim());
        },
        signal: req.signal,
        timeoutMs: PIP_TIMEOUT_MS,
        env: { ...process.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
      },
    );
    if (r.code === 0) return;
    const relative = (s: string) => s.replaceAll(`${outDir}/`, '').replaceAll(outDir, '.');
    const timedOut = lines.some((l) => /^\(timed out after/.test(l));
    if (unreachable && (notFound.length > 0 || timedOut)) {
      const what = notFound.length ? notFound.join(', ') : 'the requirements';
      throw new KssError(
        'KSS_BUILD_FAILED',
        `cannot install ${what} for "${spec.service}": the package index is unreachable from the build machine ` +
          `(${describeNetworkError(unreachable, indexes)}). Vendor the package instead: put its pure-Python source in the function ` +
          `folder (beside ${PYTHON_HANDLER_FILE}, or in ${PYTHON_PACKAGES_DIR}/, e.g. \`pip install --target ${PYTHON_PACKAGES_DIR} <package>\` ` +
          `on a machine that can reach the index) and remove it from requirements.txt.`,
      );
    }
    if (r.code === -1) {
      throw new KssError('KSS_BUILD_FAILED', `cannot run pip for "${spec.service}" with ${python}: is pip installed for it?`);
    }
    const detail = relative(lines.filter((l) => !l.startsWith('$ ')).slice(-15).join('\n'));
    throw new KssError(
      'KSS_BUILD_FAILED',
      timedOut
        ? `pip install timed out after ${PIP_TIMEOUT_MS / 1000} s for "${spec.service}":\n${detail}`
        : `pip install failed for "${spec.service}" (exit ${r.code}):\n${detail}`,
    );
  }
}

let precompiled: Promise<void> | undefined;

/**
 * Writes the runtime module's bytecode (`runtimes/python/__pycache__/`) once per
 * gateway process, with the interpreter replicas use: replicas run with
 * PYTHONDONTWRITEBYTECODE=1 and would otherwise compile it on every start (≈5–10 ms
 * of a ≈30 ms start). A read-only checkout just keeps compiling; nothing fails.
 */
export function precompileRuntime(python: string): Promise<void> {
  precompiled ??= new Promise((resolve) => {
    execFile(python, ['-m', 'compileall', '-q', PYTHON_RUNTIME_MODULE], { timeout: 30_000 }, () => resolve());
  });
  return precompiled;
}

/**
 * The handler file, relative to the function folder: `handler` (a file, or a folder
 * holding handler.py) when the spec names one, else handler.py. Same rules as the runtime.
 */
export function handlerEntry(sourceDir: string, handler: string | undefined): string {
  if (handler) {
    const rel = posix.normalize(handler.replace(/\\/g, '/')).replace(/^\.\//, '').replace(/\/$/, '');
    const path = join(sourceDir, rel);
    if (rel === '.' || rel === '' || isDirectory(path)) {
      const inner = rel === '.' || rel === '' ? PYTHON_HANDLER_FILE : `${rel}/${PYTHON_HANDLER_FILE}`;
      if (isFile(join(sourceDir, inner))) return inner;
      throw new KssError('KSS_INVALID_HANDLER', `handler folder ${rel} has no ${PYTHON_HANDLER_FILE}. Expected a file with:\n${EXPECTED}`);
    }
    if (isFile(path)) return rel;
    throw new KssError('KSS_INVALID_HANDLER', `handler file ${rel} does not exist in the function folder`);
  }
  if (isFile(join(sourceDir, PYTHON_HANDLER_FILE))) return PYTHON_HANDLER_FILE;
  throw new KssError(
    'KSS_INVALID_HANDLER',
    `no ${PYTHON_HANDLER_FILE} in the function folder (name another file with handler: in stack.yml). Expected a ${PYTHON_HANDLER_FILE} with:\n${EXPECTED}`,
  );
}

/** True when requirements.txt lists at least one requirement (not only comments, blank lines or options). */
export function hasRequirements(file: string): boolean {
  if (!existsSync(file)) return false;
  const text = readFileSync(file, 'utf8');
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    // -r/-c/-e name more requirements; other options (--index-url, --find-links, …) do not.
    if (line.startsWith('-') && !/^(-r|--requirement|-e|--editable|-c|--constraint)\b/.test(line)) continue;
    return true;
  }
  return false;
}

/** "https://pypi.org/simple: Name or service not known" from pip's warning and its "Looking in indexes:" line. */
function describeNetworkError(line: string, indexes: string): string {
  const m = /(Name or service not known|Temporary failure in name resolution|Network is unreachable|No route to host|Connection refused|timed out|ProxyError|SSLError|Could not fetch URL)/.exec(line);
  const url = /(https?:\/\/[^\s'"),]+)/.exec(line)?.[1] ?? /(https?:\/\/[^\s,]+)/.exec(indexes)?.[1];
  return `${url ? `${url}: ` : ''}${m?.[1] ?? 'network error'}`;
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

/** The code store's trees are read-only (0555 folders); the copy must be writable for pip and removable on failure. */
function makeFoldersWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) makeFoldersWritable(join(dir, entry.name));
  }
}
