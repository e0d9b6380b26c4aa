/**
 * Scaling settings read from the OpenFaaS labels, so stack files carry over.
 * Only `min` is acted on by the walking skeleton; the autoscaler reads the rest.
 */
import { KssError } from './errors.js';
import type { FunctionSpec } from './function-spec.js';

export const SCALE_MIN_LABEL = 'com.openfaas.scale.min';
export const SCALE_MAX_LABEL = 'com.openfaas.scale.max';

/** Defaults as OpenFaaS: min 1, max 20. */
export const DEFAULT_SCALE_MIN = 1;
export const DEFAULT_SCALE_MAX = 20;

export interface ScaleSettings {
  min: number;
  max: number;
}

/** Reads min/max replicas from labels; throws `KSS_INVALID_SPEC` naming the label when malformed. */
export function scaleSettings(spec: Pick<FunctionSpec, 'labels'>): ScaleSettings {
  const min = readInt(spec.labels, SCALE_MIN_LABEL, DEFAULT_SCALE_MIN);
  const max = readInt(spec.labels, SCALE_MAX_LABEL, DEFAULT_SCALE_MAX);
  if (max < 1) throw new KssError('KSS_INVALID_SPEC', `labels.${SCALE_MAX_LABEL}: must be at least 1`);
  if (min > max) throw new KssError('KSS_INVALID_SPEC', `labels.${SCALE_MIN_LABEL}: ${min} is more than ${SCALE_MAX_LABEL} (${max})`);
  return { min, max };
}

function readInt(labels: Record<string, string> | undefined, key: string, dflt: number): number {
  const raw = labels?.[key];
  if (raw === undefined) return dflt;
  if (!/^\d{1,4}$/.test(raw)) throw new KssError('KSS_INVALID_SPEC', `labels.${key}: "${raw.slice(0, 40)}" is not a whole number`);
  return Number(raw);
}
