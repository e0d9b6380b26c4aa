/**
 * Scaling settings read from the OpenFaaS labels, so stack files carry over:
 * `com.openfaas.scale.min` (default 1; 0 allows scale to zero), `.max` (default 20),
 * `.target` (requests in flight per replica, default 10), `.zero` (`true` allows
 * scale to zero), `.zero-duration` (idle time before zero, default 5m) — the OpenFaaS
 * Pro names. `max_inflight` in the environment caps requests per replica, as the
 * OpenFaaS watchdog does.
 */
import { KssError } from './errors.js';
import type { FunctionSpec } from './function-spec.js';

export const SCALE_MIN_LABEL = 'com.openfaas.scale.min';
export const SCALE_MAX_LABEL = 'com.openfaas.scale.max';
export const SCALE_TARGET_LABEL = 'com.openfaas.scale.target';
export const SCALE_ZERO_LABEL = 'com.openfaas.scale.zero';
export const SCALE_ZERO_DURATION_LABEL = 'com.openfaas.scale.zero-duration';

/** Defaults as OpenFaaS: min 1, max 20, target 10 in flight, zero after 5 minutes idle. */
export const DEFAULT_SCALE_MIN = 1;
export const DEFAULT_SCALE_MAX = 20;
export const DEFAULT_SCALE_TARGET = 10;
export const DEFAULT_ZERO_DURATION_MS = 5 * 60_000;

export interface ScaleSettings {
  min: number;
  max: number;
  /** Requests in flight per replica the autoscaler aims for. */
  target: number;
  /** True when the function may scale to zero replicas when idle. */
  zero: boolean;
  /** Idle time before scaling to zero. */
  zeroDurationMs: number;
  /** Requests one replica takes at once; beyond, requests go elsewhere or get 429. Infinity when unset. */
  maxInflight: number;
}

/** Reads the scaling settings; throws `KSS_INVALID_SPEC` naming the label when malformed. */
export function scaleSettings(spec: Pick<FunctionSpec, 'labels'> & Partial<Pick<FunctionSpec, 'envVars'>>): ScaleSettings {
  const min = readInt(spec.labels, SCALE_MIN_LABEL, DEFAULT_SCALE_MIN);
  const max = readInt(spec.labels, SCALE_MAX_LABEL, DEFAULT_SCALE_MAX);
  const target = readInt(spec.labels, SCALE_TARGET_LABEL, DEFAULT_SCALE_TARGET);
  if (max < 1) throw new KssError('KSS_INVALID_SPEC', `labels.${SCALE_MAX_LABEL}: must be at least 1`);
  if (min > max) throw new KssError('KSS_INVALID_SPEC', `labels.${SCALE_MIN_LABEL}: ${min} is more than ${SCALE_MAX_LABEL} (${max})`);
  if (target < 1) throw new KssError('KSS_INVALID_SPEC', `labels.${SCALE_TARGET_LABEL}: must be at least 1`);
  const zeroLabel = spec.labels?.[SCALE_ZERO_LABEL];
  if (zeroLabel !== undefined && zeroLabel !== 'true' && zeroLabel !== 'false') {
    throw new KssError('KSS_INVALID_SPEC', `labels.${SCALE_ZERO_LABEL}: "${zeroLabel.slice(0, 20)}" must be "true" or "false"`);
  }
  const durationLabel = spec.labels?.[SCALE_ZERO_DURATION_LABEL];
  const zeroDurationMs = durationLabel === undefined ? DEFAULT_ZERO_DURATION_MS : parseDuration(durationLabel, `labels.${SCALE_ZERO_DURATION_LABEL}`);
  const inflight = spec.envVars?.max_inflight;
  let maxInflight = Infinity;
  if (inflight !== undefined && inflight !== '' && inflight !== '0') {
    if (!/^\d{1,6}$/.test(inflight)) throw new KssError('KSS_INVALID_SPEC', `envVars.max_inflight: "${inflight.slice(0, 20)}" is not a whole number`);
    maxInflight = Number(inflight);
  }
  return { min, max, target, zero: zeroLabel === 'true' || min === 0, zeroDurationMs, maxInflight };
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations as OpenFaaS writes them: `30s`, `5m`, `1h`, `1500ms`. */
export function parseDuration(value: string, field: string): number {
  const m = DURATION.exec(value.trim());
  if (!m) throw new KssError('KSS_INVALID_SPEC', `${field}: "${value.slice(0, 20)}" is not a duration such as 30s, 5m or 1h`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

function readInt(labels: Record<string, string> | undefined, key: string, dflt: number): number {
  const raw = labels?.[key];
  if (raw === undefined) return dflt;
  if (!/^\d{1,4}$/.test(raw)) throw new KssError('KSS_INVALID_SPEC', `labels.${key}: "${raw.slice(0, 40)}" is not a whole number`);
  return Number(raw);
}
