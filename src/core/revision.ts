/**
 * Revisions and traffic: the wire types and the rules, no I/O.
 *
 * Every deploy that changes a function makes an immutable revision `r1`, `r2`, … (as
 * Knative's Revisions). Traffic is split between revisions by whole-number weights
 * that sum to 100. Each revision in the split runs as its own deployment on the
 * provider, named `<function>--r<n>` ({@link deploymentRef}), so it has its own
 * replicas and scales on its own (and to zero); the provider never needs to know.
 */
import { KssError } from './errors.js';
import type { FunctionRef, FunctionSpec } from './function-spec.js';
import { parseDuration } from './scale-labels.js';

/** Label on a deployment's spec naming the function it is a revision of. */
export const FUNCTION_LABEL = 'kss.function';
/** Label on a deployment's spec naming its revision (`r3`). */
export const REVISION_LABEL = 'kss.revision';
/** Annotation holding a canary plan (see {@link parseCanaryPlan}). */
export const CANARY_ANNOTATION = 'kss.canary';
/** Revisions kept per function besides pinned ones and those in the split (Knative keeps 20, Flagger 1; issue #12: 10). */
export const KEEP_REVISIONS = 10;

const REVISION_PATTERN = /^r([1-9][0-9]{0,8})$/;
const DEPLOYMENT_SUFFIX = /^(.+)--(r[1-9][0-9]{0,8})$/;

/** One immutable revision of a function. */
export interface Revision {
  /** `r<number>`. */
  revision: string;
  number: number;
  /** The function's spec as it was deployed (its `service` is the function's name). */
  spec: FunctionSpec;
  createdAt: string;
  /** Who deployed it (the admin user or the token's name). */
  createdBy: string;
  /** Never garbage-collected while set. */
  pinned: boolean;
}

/** One revision's share of the traffic. */
export interface TrafficTarget {
  revision: string;
  percent: number;
}

/** A canary plan, as the `kss.canary` annotation states it. */
export interface CanaryPlan {
  /** First share of the new revision, percent. */
  initialPercent: number;
  /** Added at each step that passes, percent. */
  stepPercent: number;
  /** Length of a step. */
  intervalSeconds: number;
  /** Highest error rate (0–1) of the new revision in a step before it is rolled back. */
  maxErrorRate: number;
  /** Highest p99 latency of the new revision in a step, when set. */
  maxP99Seconds: number | null;
}

/** A canary in progress (kept with the traffic, so a restart resumes it). */
export interface CanaryState extends CanaryPlan {
  /** The new revision. */
  revision: string;
  /** The revision that served before (gets the rest, and everything on rollback). */
  from: string;
  /** The new revision's current share. */
  percent: number;
  /** When the current step ends (epoch ms). */
  nextStepAt: number;
}

/** True when `value` is a revision id (`r1`, `r2`, …). */
export function isRevisionId(value: unknown): value is string {
  return typeof value === 'string' && REVISION_PATTERN.test(value);
}

/** `r<n>` → n. */
export function revisionNumber(id: string): number {
  return Number(REVISION_PATTERN.exec(id)![1]);
}

/** Throws `KSS_INVALID_TRAFFIC` unless `value` is a revision id. */
export function assertRevisionId(value: unknown, field: string): asserts value is string {
  if (!isRevisionId(value)) {
    throw new KssError('KSS_INVALID_TRAFFIC', `${field}: "${String(value).slice(0, 40)}" is not a revision; revisions are named r1, r2, … (see \`kss revisions NAME\`)`);
  }
}

/** The provider-level name of one revision's deployment. */
export function deploymentRef(ref: FunctionRef, revision: string): FunctionRef {
  return { name: `${ref.name}--${revision}`, namespace: ref.namespace };
}

/** The function and revision a deployment belongs to, or undefined for a plain name. */
export function revisionOfDeployment(ref: FunctionRef): { ref: FunctionRef; revision: string } | undefined {
  const m = DEPLOYMENT_SUFFIX.exec(ref.name);
  return m ? { ref: { name: m[1]!, namespace: ref.namespace }, revision: m[2]! } : undefined;
}

/** The function a provider-level ref belongs to, and its revision when it is a revision's deployment. */
export function functionOf(ref: FunctionRef): { ref: FunctionRef; revision?: string } {
  // On the invoke path (metrics, canary, history observers) for every request: skip the regex for plain names.
  if (!ref.name.includes('--r')) return { ref };
  return revisionOfDeployment(ref) ?? { ref };
}

/** True when a function name ends the way revision deployments do (such names are reserved). */
export function looksLikeDeployment(name: string): boolean {
  return DEPLOYMENT_SUFFIX.test(name);
}

/** The spec a revision's deployment runs: the function's, renamed, labelled with function and revision. */
export function deploymentSpec(revision: Revision): FunctionSpec {
  const spec = revision.spec;
  const name = deploymentRef({ name: spec.service, namespace: spec.namespace }, revision.revision).name;
  return { ...spec, service: name, labels: { ...spec.labels, [FUNCTION_LABEL]: spec.service, [REVISION_LABEL]: revision.revision } };
}

/** The function's own spec back from one of its revision deployments' ({@link deploymentSpec}'s inverse). */
export function functionSpecOf(deployment: FunctionSpec): FunctionSpec {
  const owner = revisionOfDeployment({ name: deployment.service, namespace: deployment.namespace });
  if (!owner) return deployment;
  const { [FUNCTION_LABEL]: _fn, [REVISION_LABEL]: _rev, ...labels } = deployment.labels ?? {};
  const spec: FunctionSpec = { ...deployment, service: owner.ref.name };
  if (Object.keys(labels).length) spec.labels = labels;
  else delete spec.labels;
  return spec;
}

/**
 * Parses and checks a split given as `{ "r3": 90, "r4": 10 }` or as
 * `[{ revision, percent }]`: whole numbers 0–100, each revision once, summing to
 * 100. Throws `KSS_INVALID_TRAFFIC` naming what is wrong. Sorted by revision, newest first.
 */
export function parseTraffic(input: unknown, field = 'traffic'): TrafficTarget[] {
  let entries: [unknown, unknown][];
  if (Array.isArray(input)) {
    entries = input.map((t, i) => {
      if (typeof t !== 'object' || t === null) throw new KssError('KSS_INVALID_TRAFFIC', `${field}[${i}]: expected { "revision": "r3", "percent": 90 }`);
      const o = t as Record<string, unknown>;
      return [o.revision, o.percent];
    });
  } else if (typeof input === 'object' && input !== null) {
    entries = Object.entries(input);
  } else {
    throw new KssError('KSS_INVALID_TRAFFIC', `${field}: expected weights per revision, e.g. { "r3": 90, "r4": 10 }`);
  }
  if (entries.length === 0) throw new KssError('KSS_INVALID_TRAFFIC', `${field}: name at least one revision, e.g. { "r3": 100 }`);
  const seen = new Set<string>();
  const out: TrafficTarget[] = [];
  for (const [revision, percent] of entries) {
    assertRevisionId(revision, field);
    if (seen.has(revision)) throw new KssError('KSS_INVALID_TRAFFIC', `${field}: ${revision} is named twice`);
    seen.add(revision);
    if (typeof percent !== 'number' || !Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new KssError('KSS_INVALID_TRAFFIC', `${field}.${revision}: the weight must be a whole number from 0 to 100, got ${JSON.stringify(percent)?.slice(0, 20)}`);
    }
    out.push({ revision, percent });
  }
  const sum = out.reduce((s, t) => s + t.percent, 0);
  if (sum !== 100) {
    throw new KssError('KSS_INVALID_TRAFFIC', `${field}: the weights add up to ${sum}; they must add up to 100 (e.g. ${out.map((t) => `${t.revision}=${Math.round((t.percent * 100) / (sum || 1)) || 0}`).join(' ')})`);
  }
  return sortTraffic(out);
}

/** Newest revision first. */
export function sortTraffic(traffic: TrafficTarget[]): TrafficTarget[] {
  return traffic.sort((a, b) => revisionNumber(b.revision) - revisionNumber(a.revision));
}

const PERCENT = /^(\d{1,3}(?:\.\d+)?)%$/;

function percentOf(value: string, field: string, { min, max }: { min: number; max: number }): number {
  const m = PERCENT.exec(value.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= min && n <= max)) throw new KssError('KSS_INVALID_SPEC', `${field}: "${value.slice(0, 30)}" must be a percentage from ${min}% to ${max}%, like 10%`);
  return n;
}

/**
 * Parses the `kss.canary` annotation: `"10%"`, or with options
 * `"10%, step=20%/1m, max-error-rate=5%, max-p99=500ms"` (defaults: step 20%/1m,
 * max-error-rate 5%, no p99 limit — Flagger's defaults are alike). Throws
 * `KSS_INVALID_SPEC` naming the part that is wrong.
 */
export function parseCanaryPlan(value: string, field = `annotations.${CANARY_ANNOTATION}`): CanaryPlan {
  const [first, ...rest] = value.split(',').map((s) => s.trim());
  const plan: CanaryPlan = { initialPercent: 0, stepPercent: 20, intervalSeconds: 60, maxErrorRate: 0.05, maxP99Seconds: null };
  plan.initialPercent = Math.round(percentOf(first ?? '', `${field} (first share)`, { min: 1, max: 99 }));
  for (const part of rest) {
    const eq = part.indexOf('=');
    const k = eq > 0 ? part.slice(0, eq).trim() : part;
    const v = eq > 0 ? part.slice(eq + 1).trim() : '';
    if (k === 'step') {
      const [pct, every] = v.split('/');
      plan.stepPercent = Math.round(percentOf(pct ?? '', `${field} step`, { min: 1, max: 100 }));
      if (!every) throw new KssError('KSS_INVALID_SPEC', `${field} step: "${v}" needs an interval, like step=20%/1m`);
      plan.intervalSeconds = parseDuration(every, `${field} step interval`) / 1000;
      if (plan.intervalSeconds < 1) throw new KssError('KSS_INVALID_SPEC', `${field} step: the interval must be at least 1s`);
    } else if (k === 'max-error-rate') {
      plan.maxErrorRate = percentOf(v, `${field} max-error-rate`, { min: 0, max: 100 }) / 100;
    } else if (k === 'max-p99') {
      plan.maxP99Seconds = parseDuration(v, `${field} max-p99`) / 1000;
    } else {
      throw new KssError('KSS_INVALID_SPEC', `${field}: unknown option "${k.slice(0, 30)}"; use step=20%/1m, max-error-rate=5%, max-p99=500ms`);
    }
  }
  return plan;
}
