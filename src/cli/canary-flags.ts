/**
 * `kss deploy --canary 10% [--step 20%/1m] [--max-error-rate 5%] [--max-p99 500ms]`:
 * the flags, checked before anything is uploaded, turned into the `kss.canary`
 * annotation the gateway reads (`"10%, step=20%/1m, max-error-rate=5%, max-p99=500ms"`).
 */
import { isKssError, parseDuration } from '../core/index.js';
import { CANARY_ANNOTATION, parseCanaryPlan, type CanaryPlan } from '../core/revision.js';
import { CliError, EXIT_USAGE } from './output.js';

/** The canary flags of `kss deploy`, as commander hands them over. */
export interface CanaryFlags {
  canary?: string;
  step?: string;
  maxErrorRate?: string;
  maxP99?: string;
}

/** The annotation to set and the plan it means. */
export interface CanaryAnnotation {
  /** `kss.canary` */
  key: typeof CANARY_ANNOTATION;
  value: string;
  plan: CanaryPlan;
}

const WHOLE_PERCENT = /^([0-9]{1,3})%?$/;
const PERCENT = /^([0-9]{1,3}(?:\.[0-9]+)?)%$/;

/**
 * The `kss.canary` annotation for the flags given, or undefined without `--canary`.
 * Throws a usage {@link CliError} for a malformed flag, or for `--step`,
 * `--max-error-rate` or `--max-p99` without `--canary`.
 */
export function canaryAnnotation(flags: CanaryFlags): CanaryAnnotation | undefined {
  const extras = ([['--step', flags.step], ['--max-error-rate', flags.maxErrorRate], ['--max-p99', flags.maxP99]] as const).filter(([, v]) => v !== undefined).map(([f]) => f);
  if (flags.canary === undefined) {
    if (extras.length) throw new CliError(`${extras.join(', ')} ${extras.length === 1 ? 'applies' : 'apply'} only to a canary deploy: add --canary 10% (the new revision's first share of the traffic)`, EXIT_USAGE);
    return undefined;
  }
  const parts = [`${canaryPercent(flags.canary)}%`];
  if (flags.step !== undefined) parts.push(`step=${canaryStep(flags.step)}`);
  if (flags.maxErrorRate !== undefined) parts.push(`max-error-rate=${maxErrorRate(flags.maxErrorRate)}`);
  if (flags.maxP99 !== undefined) parts.push(`max-p99=${maxP99(flags.maxP99)}`);
  const value = parts.join(', ');
  // The gateway's own parser: what passes here is what the deploy will accept.
  try {
    return { key: CANARY_ANNOTATION, value, plan: parseCanaryPlan(value) };
  } catch (err) {
    if (isKssError(err)) throw new CliError(`--canary: ${err.message}`, EXIT_USAGE);
    throw err;
  }
}

/** `--canary 10%` (or `10`): a whole percentage from 1 to 99. */
function canaryPercent(value: string): number {
  const m = WHOLE_PERCENT.exec(value.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 1 && n <= 99)) {
    const hint = value.includes(',') ? '; give the other settings as --step, --max-error-rate and --max-p99' : '';
    throw new CliError(`--canary: "${value}" is not the new revision's first share: a whole percentage from 1% to 99%, like 10%${hint}`, EXIT_USAGE);
  }
  return n;
}

/** `--step 20%/1m`: a whole percentage from 1 to 100, a slash, an interval of at least 1s. */
function canaryStep(value: string): string {
  const [pct, every, more] = value.trim().split('/');
  const m = WHOLE_PERCENT.exec(pct ?? '');
  const n = m ? Number(m[1]) : NaN;
  const usage = `--step: "${value}" should be the share to add and how often, like 20%/1m (20% more every minute)`;
  if (!(n >= 1 && n <= 100) || every === undefined || more !== undefined) throw new CliError(usage, EXIT_USAGE);
  const ms = durationMs(every, '--step', usage);
  if (ms < 1000) throw new CliError(`--step: the interval ${every} is too short; steps last at least 1s`, EXIT_USAGE);
  return `${n}%/${every.trim()}`;
}

/** `--max-error-rate 5%`: a percentage from 0 to 100 (decimals allowed). */
function maxErrorRate(value: string): string {
  const m = PERCENT.exec(value.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 0 && n <= 100)) throw new CliError(`--max-error-rate: "${value}" should be a percentage from 0% to 100%, like 5% (errors are 5xx replies and platform errors)`, EXIT_USAGE);
  return `${m![1]}%`;
}

/** `--max-p99 500ms`: a duration above zero. */
function maxP99(value: string): string {
  const usage = `--max-p99: "${value}" should be a latency such as 500ms or 1.5s`;
  if (durationMs(value, '--max-p99', usage) <= 0) throw new CliError(`--max-p99: the limit must be above zero, like 500ms`, EXIT_USAGE);
  return value.trim();
}

function durationMs(value: string, flag: string, usage: string): number {
  try {
    return parseDuration(value, flag);
  } catch (err) {
    if (isKssError(err)) throw new CliError(usage, EXIT_USAGE);
    throw err;
  }
}
