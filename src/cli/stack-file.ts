/**
 * faas-cli's `stack.yml`, read the way faas-cli reads it: `version`,
 * `provider.gateway`, and `functions.<name>` with lang, handler, image, environment,
 * secrets, labels, annotations, limits, requests, plus our `runtime` and `timeout`.
 * `${VAR}` and `${VAR:-default}` are substituted from the environment first.
 * `environment_file: [a.yml, …]` reads each file's top-level `environment:` mapping
 * (paths relative to the stack file), merged in order; as in faas-cli
 * (`compileEnvironment` merges the function's `environment:` first, then the files),
 * a file's value wins over the same name in `environment:`.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { KssError, assertValidName, isPlainObject, RUNTIMES, runtimeForLang, type Runtime } from '../core/index.js';

/** One function from a stack file, ready to package and deploy. */
export interface StackFunction {
  name: string;
  runtime: Runtime;
  /** Folder to package (absolute). */
  codeDir: string;
  /** Entry file inside `codeDir` when `handler` named a file. */
  entry?: string;
  /** Fields passed to the API as they are (OpenFaaS FunctionDeployment names). */
  spec: Record<string, unknown>;
}

export interface StackFile {
  gateway?: string;
  functions: StackFunction[];
}

export { runtimeForLang };

/** Replaces `${VAR}` and `${VAR:-default}` the way faas-cli (envsubst) does. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, dflt: string | undefined) => {
    const v = env[name];
    return v !== undefined && v !== '' ? v : (dflt ?? '');
  });
}

/** Reads and validates a stack file. Every error names the file and the field. */
export function readStackFile(path: string, env: NodeJS.ProcessEnv = process.env): StackFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KssError('KSS_BAD_REQUEST', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; create one with \`kss new NAME --lang node\``);
  }
  return parseStackFile(text, dirname(resolve(path)), basename(path), env);
}

/** Parses stack file text; `baseDir` resolves relative handler paths. */
export function parseStackFile(text: string, baseDir: string, fileName = 'stack.yml', env: NodeJS.ProcessEnv = process.env): StackFile {
  let doc: unknown;
  try {
    doc = parseYaml(substituteEnv(text, env), { maxAliasCount: 100 });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
    throw new KssError('KSS_INVALID_YAML', `${fileName}: not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`);
  }
  const fail = (field: string, msg: string): never => {
    throw new KssError('KSS_INVALID_YAML', `${fileName}: ${field}: ${msg}`);
  };
  if (!isPlainObject(doc)) fail('(top level)', 'expected a mapping with `functions:`');
  const root = doc as Record<string, unknown>;
  let gateway: string | undefined;
  if (root.provider !== undefined) {
    if (!isPlainObject(root.provider)) fail('provider', 'expected a mapping');
    const gw = (root.provider as Record<string, unknown>).gateway;
    if (gw !== undefined && gw !== null && gw !== '') {
      if (typeof gw !== 'string' || !/^https?:\/\//.test(gw)) fail('provider.gateway', 'expected an http(s) URL');
      gateway = gw as string;
    }
  }
  if (!isPlainObject(root.functions) || Object.keys(root.functions).length === 0) fail('functions', 'expected at least one function');
  const functions: StackFunction[] = [];
  for (const [name, value] of Object.entries(root.functions as Record<string, unknown>)) {
    const at = `functions.${name}`;
    try {
      assertValidName(name, at);
    } catch (err) {
      fail(at, (err as Error).message.replace(`${at}: `, ''));
    }
    if (!isPlainObject(value)) fail(at, 'expected a mapping');
    const f = value as Record<string, unknown>;
    const lang = f.runtime ?? f.lang;
    if (typeof lang !== 'string') fail(`${at}.lang`, `required; one of ${RUNTIMES.join(', ')} (OpenFaaS names such as node20 or python3 work too)`);
    const runtime = runtimeForLang(lang as string) ?? fail(`${at}.lang`, `"${lang}" is not a known language; use one of ${RUNTIMES.join(', ')}`);
    if (typeof f.handler !== 'string' || f.handler === '') fail(`${at}.handler`, 'required: the folder (or file) holding the function, e.g. ./hello');
    const handlerPath = resolve(baseDir, f.handler as string);
    let codeDir = handlerPath;
    let entry: string | undefined;
    try {
      if (statSync(handlerPath).isFile()) {
        codeDir = dirname(handlerPath);
        entry = basename(handlerPath);
      }
    } catch {
      fail(`${at}.handler`, `${f.handler} does not exist`);
    }
    const spec: Record<string, unknown> = { service: name, runtime };
    const copy = (from: string, to = from) => {
      if (f[from] !== undefined && f[from] !== null) spec[to] = f[from];
    };
    copy('image');
    copy('namespace');
    copy('environment', 'envVars');
    copy('secrets');
    copy('labels');
    copy('annotations');
    copy('limits');
    copy('requests');
    copy('constraints');
    copy('readonly_root_filesystem', 'readOnlyRootFilesystem');
    copy('fprocess', 'envProcess');
    copy('timeout');
    copy('triggers');
    if (entry) spec.handler = entry;
    for (const mapField of ['envVars', 'labels', 'annotations']) {
      const m = spec[mapField];
      if (m === undefined) continue;
      if (!isPlainObject(m)) fail(`${at}.${mapField === 'envVars' ? 'environment' : mapField}`, 'expected a mapping of names to values');
      // YAML turns `replicas: 2` into a number; the API wants strings, as faas-cli sends them.
      spec[mapField] = Object.fromEntries(Object.entries(m as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : String(v)]));
    }
    if (f.environment_file !== undefined && f.environment_file !== null) {
      const fromFiles = readEnvironmentFiles(f.environment_file, baseDir, fileName, `${at}.environment_file`);
      spec.envVars = { ...((spec.envVars as Record<string, string> | undefined) ?? {}), ...fromFiles };
    }
    functions.push({ name, runtime, codeDir, ...(entry ? { entry } : {}), spec });
  }
  return { ...(gateway ? { gateway } : {}), functions };
}

/**
 * Reads faas-cli environment files (`environment:` mapping at the top level), later
 * files winning. Values are not `${VAR}`-substituted (faas-cli does not either).
 */
function readEnvironmentFiles(list: unknown, baseDir: string, stackName: string, field: string): Record<string, string> {
  const fail = (msg: string): never => {
    throw new KssError('KSS_INVALID_YAML', `${stackName}: ${field}: ${msg}`);
  };
  const files = typeof list === 'string' ? [list] : list;
  if (!Array.isArray(files) || files.some((f) => typeof f !== 'string' || f === '')) fail('expected a list of YAML files, e.g. [env.yml]');
  const env: Record<string, string> = {};
  for (const file of files as string[]) {
    let text: string;
    try {
      text = readFileSync(resolve(baseDir, file), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      fail(code === 'ENOENT' ? `${file} does not exist (paths are relative to ${stackName}'s folder)` : `cannot read ${file}: ${code ?? (err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text!, { maxAliasCount: 100 });
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
      fail(`${file}: not valid YAML${where}`);
    }
    const mapping = isPlainObject(doc) ? doc.environment : undefined;
    if (!isPlainObject(mapping)) fail(`${file}: expected a top-level \`environment:\` mapping of names to values, e.g.\n  environment:\n    DB_HOST: db.local`);
    for (const [k, v] of Object.entries(mapping as Record<string, unknown>)) {
      if (v !== null && typeof v === 'object') fail(`${file}: environment.${k}: expected a plain value, not a list or mapping`);
      env[k] = v === null || v === undefined ? '' : typeof v === 'string' ? v : String(v);
    }
  }
  return env;
}
