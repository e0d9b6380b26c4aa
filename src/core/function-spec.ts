/**
 * The function spec: the OpenFaaS `FunctionDeployment` fields plus what
 * Kube-Serverless adds (runtime, code, handler, timeout). Parsing is strict about
 * what it reads and tolerant of what it does not know (OpenFaaS' deprecated
 * `registryAuth` and `network` are ignored), so faas-cli's requests work unchanged.
 */
import { cpuMillis, memoryBytes } from './quantity.js';
import { KssError } from './errors.js';
import { annotationTriggers, parseTriggers, type TriggerSpec } from './trigger-spec.js';

/** Runtimes a function can name. */
export const RUNTIMES = ['node', 'python', 'go', 'exec', 'http'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** `lang` values (OpenFaaS template names included) and the runtime each means. */
export function runtimeForLang(lang: string): Runtime | undefined {
  if ((RUNTIMES as readonly string[]).includes(lang)) return lang as Runtime;
  if (/^node(\d+)?(-.*)?$/.test(lang)) return 'node';
  if (/^python(3)?(-.*)?$/.test(lang)) return 'python';
  if (/^go(lang)?(-.*)?$/.test(lang)) return 'go';
  if (lang === 'bash' || lang === 'dockerfile') return 'exec';
  return undefined;
}

/** Default namespace, as in OpenFaaS. */
export const DEFAULT_NAMESPACE = 'openfaas-fn';
/** Default per-request timeout (seconds), as OpenFaaS' `exec_timeout` default of 60s. */
export const DEFAULT_TIMEOUT_SECONDS = 60;
/** Longest timeout a function may ask for (seconds). */
export const MAX_TIMEOUT_SECONDS = 3600;

/** A DNS-1123 label: what Kubernetes accepts for a Service name, and so what we accept. */
export const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const NAME_MAX_LENGTH = 63;
/** Content address of an uploaded code archive. */
export const CODE_DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

/** CPU and memory, in Kubernetes quantity syntax (`128Mi`, `500m`). */
export interface FunctionResources {
  memory?: string;
  cpu?: string;
}

/** Addresses one function. */
export interface FunctionRef {
  name: string;
  namespace: string;
}

/** What a user deploys. Field names are OpenFaaS' where OpenFaaS has the field. */
export interface FunctionSpec {
  /** The function's name (OpenFaaS calls it `service`). */
  service: string;
  namespace: string;
  /** The image (kept for Kubernetes); for uploaded code, the runtime image. */
  image: string;
  envProcess?: string;
  envVars?: Record<string, string>;
  constraints?: string[];
  secrets?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  limits?: FunctionResources;
  requests?: FunctionResources;
  readOnlyRootFilesystem?: boolean;
  runtime: Runtime;
  /** Digest of the uploaded code archive (`sha256:<hex>`). */
  code?: string;
  /** Entry file inside the code, relative to its root (default: found by the runtime). */
  handler?: string;
  /** Per-request timeout in seconds. */
  timeout: number;
  /** Events that invoke the function: cron, MQTT, NATS, RabbitMQ (trigger-spec.ts). */
  triggers?: TriggerSpec[];
}

/** The runtime image a function runs on when it brings code rather than an image. */
export function runtimeImage(runtime: Runtime, version: string): string {
  return `ghcr.io/kube-serverless/runtime-${runtime}:${version}`;
}

export function refOf(spec: Pick<FunctionSpec, 'service' | 'namespace'>): FunctionRef {
  return { name: spec.service, namespace: spec.namespace };
}

/** `name.namespace`, the OpenFaaS way of naming a function across namespaces. */
export function qualifiedName(ref: FunctionRef): string {
  return `${ref.name}.${ref.namespace}`;
}

/** Throws `KSS_INVALID_NAME` unless `name` is a DNS-1123 label of at most 63 characters. */
export function assertValidName(name: unknown, field = 'service'): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new KssError('KSS_INVALID_NAME', `${field}: a function name is required`);
  }
  if (name.length > NAME_MAX_LENGTH || !NAME_PATTERN.test(name)) {
    throw new KssError(
      'KSS_INVALID_NAME',
      `${field}: "${truncate(name)}" is not a valid name: use at most ${NAME_MAX_LENGTH} lower-case letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
}

/** Throws `KSS_INVALID_NAMESPACE` unless `ns` is a valid namespace name. */
export function assertValidNamespace(ns: unknown, field = 'namespace'): asserts ns is string {
  if (typeof ns !== 'string' || ns.length > NAME_MAX_LENGTH || !NAME_PATTERN.test(ns)) {
    throw new KssError(
      'KSS_INVALID_NAMESPACE',
      `${field}: "${truncate(String(ns))}" is not a valid namespace: use at most ${NAME_MAX_LENGTH} lower-case letters, digits and '-'`,
    );
  }
}

/**
 * Parses `name` or `name.namespace` (the OpenFaaS form in `/function/{name}.{namespace}`).
 * Names cannot contain '.', so the first dot splits them.
 */
export function parseQualifiedName(value: string, defaultNamespace = DEFAULT_NAMESPACE): FunctionRef {
  const dot = value.indexOf('.');
  const name = dot < 0 ? value : value.slice(0, dot);
  const namespace = dot < 0 ? defaultNamespace : value.slice(dot + 1);
  assertValidName(name, 'function');
  assertValidNamespace(namespace);
  return { name, namespace };
}

/** Options for {@link parseFunctionSpec}. */
export interface ParseSpecOptions {
  defaultNamespace?: string;
  /** Version used to name the runtime image when the spec has none. */
  version?: string;
}

/**
 * Validates an OpenFaaS `FunctionDeployment` body (plus our fields) and returns a
 * normalised spec. Every error names the offending field.
 */
export function parseFunctionSpec(input: unknown, options: ParseSpecOptions = {}): FunctionSpec {
  if (!isPlainObject(input)) {
    throw new KssError('KSS_INVALID_SPEC', 'body: expected a JSON object describing the function');
  }
  const o = input;
  assertValidName(o.service, 'service');
  const namespace = o.namespace === undefined || o.namespace === '' ? (options.defaultNamespace ?? DEFAULT_NAMESPACE) : o.namespace;
  assertValidNamespace(namespace);

  const runtime = o.runtime === undefined ? 'node' : o.runtime;
  if (typeof runtime !== 'string' || !(RUNTIMES as readonly string[]).includes(runtime)) {
    throw new KssError('KSS_INVALID_SPEC', `runtime: "${truncate(String(runtime))}" is not a runtime; known runtimes: ${RUNTIMES.join(', ')}`);
  }

  const code = optionalString(o, 'code');
  if (code !== undefined && !CODE_DIGEST_PATTERN.test(code)) {
    throw new KssError('KSS_INVALID_SPEC', 'code: expected the digest of an uploaded archive, "sha256:" followed by 64 hex digits');
  }
  const handler = optionalString(o, 'handler');
  if (handler !== undefined) assertRelativePath(handler, 'handler');

  const image = optionalString(o, 'image') ?? runtimeImage(runtime as Runtime, options.version ?? 'latest');

  const spec: FunctionSpec = {
    service: o.service,
    namespace,
    image,
    runtime: runtime as Runtime,
    timeout: parseTimeout(o.timeout),
  };
  assign(spec, 'envProcess', optionalString(o, 'envProcess'));
  assign(spec, 'envVars', optionalStringMap(o, 'envVars'));
  assign(spec, 'constraints', optionalStringArray(o, 'constraints'));
  assign(spec, 'secrets', optionalStringArray(o, 'secrets'));
  assign(spec, 'labels', optionalStringMap(o, 'labels'));
  assign(spec, 'annotations', optionalStringMap(o, 'annotations'));
  assign(spec, 'limits', optionalResources(o, 'limits'));
  assign(spec, 'requests', optionalResources(o, 'requests'));
  if (o.readOnlyRootFilesystem !== undefined && o.readOnlyRootFilesystem !== null) {
    if (typeof o.readOnlyRootFilesystem !== 'boolean') {
      throw new KssError('KSS_INVALID_SPEC', 'readOnlyRootFilesystem: expected true or false');
    }
    spec.readOnlyRootFilesystem = o.readOnlyRootFilesystem;
  }
  assign(spec, 'code', code);
  assign(spec, 'handler', handler);
  assign(spec, 'triggers', parseTriggers(o.triggers));
  // The OpenFaaS cron convention (topic: cron-function + schedule) must parse too; a `cron` name clash is an error.
  const fromAnnotations = annotationTriggers(spec.annotations);
  if (fromAnnotations.cron && spec.triggers?.some((t) => t.name === 'cron')) {
    throw new KssError('KSS_INVALID_TRIGGER', 'triggers: the annotations declare a cron trigger (topic: cron-function), and so does a trigger named "cron"; keep one');
  }
  if (spec.envVars) {
    for (const key of Object.keys(spec.envVars)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        throw new KssError('KSS_INVALID_SPEC', `envVars: "${truncate(key)}" is not a valid environment variable name`);
      }
    }
  }
  return spec;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** Accepts seconds as a number, or a Go-style duration string (`500ms`, `30s`, `2m`). */
export function parseTimeout(value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_TIMEOUT_SECONDS;
  let seconds: number;
  if (typeof value === 'number') seconds = value;
  else if (typeof value === 'string' && DURATION.test(value)) {
    const [, n, unit] = DURATION.exec(value)!;
    seconds = Number(n) * UNIT_SECONDS[unit!]!;
  } else {
    throw new KssError('KSS_INVALID_SPEC', 'timeout: expected seconds (a number) or a duration such as "30s" or "2m"');
  }
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_TIMEOUT_SECONDS) {
    throw new KssError('KSS_INVALID_SPEC', `timeout: must be more than 0 and at most ${MAX_TIMEOUT_SECONDS} seconds`);
  }
  return seconds;
}

/** Rejects absolute paths and any path that climbs out of its folder. */
export function assertRelativePath(path: string, field: string): void {
  const parts = path.split(/[\\/]+/);
  if (path.length === 0 || path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path) || parts.includes('..') || path.includes('\0')) {
    throw new KssError('KSS_INVALID_SPEC', `${field}: "${truncate(path)}" must be a relative path inside the function's code`);
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function truncate(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function assign<K extends keyof FunctionSpec>(spec: FunctionSpec, key: K, value: FunctionSpec[K] | undefined): void {
  if (value !== undefined) spec[key] = value;
}

function optionalString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new KssError('KSS_INVALID_SPEC', `${key}: expected a string`);
  return v;
}

function optionalStringMap(o: Record<string, unknown>, key: string): Record<string, string> | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) throw new KssError('KSS_INVALID_SPEC', `${key}: expected an object of string values`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new KssError('KSS_INVALID_SPEC', `${key}.${truncate(k)}: expected a string value`);
    out[k] = val;
  }
  return out;
}

function optionalStringArray(o: Record<string, unknown>, key: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new KssError('KSS_INVALID_SPEC', `${key}: expected an array of strings`);
  }
  return v as string[];
}

/** The smallest memory limit a replica can start with (an interpreter needs more; this catches unit slips like "128"). */
export const MIN_MEMORY_BYTES = 4 * 2 ** 20;

function optionalResources(o: Record<string, unknown>, key: string): FunctionResources | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) throw new KssError('KSS_INVALID_SPEC', `${key}: expected an object with memory and/or cpu`);
  const out: FunctionResources = {};
  for (const field of ['memory', 'cpu'] as const) {
    let q = v[field];
    if (q === undefined || q === null || q === '') continue;
    // YAML turns `cpu: 1` into a number; Kubernetes accepts it.
    if (typeof q === 'number') q = String(q);
    const amount = typeof q !== 'string' ? undefined : field === 'memory' ? memoryBytes(q) : cpuMillis(q);
    if (amount === undefined) {
      throw new KssError('KSS_INVALID_SPEC', `${key}.${field}: "${truncate(String(q))}" is not a quantity such as ${field === 'memory' ? '"128Mi" or "1Gi"' : '"500m" or "2"'}`);
    }
    if (field === 'memory' && amount < MIN_MEMORY_BYTES) {
      throw new KssError('KSS_INVALID_SPEC', `${key}.memory: "${truncate(String(q))}" is ${amount} bytes; at least 4Mi is needed (did you mean "${truncate(String(q))}Mi"?)`);
    }
    if (field === 'cpu' && amount <= 0) throw new KssError('KSS_INVALID_SPEC', `${key}.cpu: must be more than 0 (e.g. "100m")`);
    out[field] = q as string;
  }
  return Object.keys(out).length ? out : undefined;
}
