/**
 * Persistent named volumes (`kss.volume` annotation): state that outlives the
 * stateless replicas, shared by every function that names the same volume — a
 * Kubernetes PersistentVolumeClaim with `fsGroup`, on one machine.
 *
 * The annotation is a comma-separated list of volume names (DNS labels), each
 * optionally followed by `:ro` for a read-only mount: `kss.volume: "readings,models:ro"`.
 * Inside the replica a volume is at `/var/kss/volumes/<name>`, and its path is in
 * `KSS_VOLUME_<NAME>` (upper-cased, `-` → `_`). On Kubernetes, `kss.volume.size`
 * (a quantity, default 1Gi) sizes the claims the function creates. No I/O here.
 */
import { KssError } from './errors.js';
import type { FunctionSpec } from './function-spec.js';
import { memoryBytes } from './quantity.js';

/** The annotation naming a function's volumes. */
export const VOLUME_ANNOTATION = 'kss.volume';
/** The annotation sizing the claims a function creates on Kubernetes (a quantity). */
export const VOLUME_SIZE_ANNOTATION = 'kss.volume.size';
/** Size of a volume claim when the function does not say (Kubernetes only; local volumes have no quota). */
export const DEFAULT_VOLUME_SIZE = '1Gi';
/** Where a replica sees its volumes: `<VOLUMES_MOUNT_PATH>/<name>`. */
export const VOLUMES_MOUNT_PATH = '/var/kss/volumes';
/** Prefix of the environment variable holding a volume's path (`KSS_VOLUME_READINGS`). */
export const VOLUME_ENV_PREFIX = 'KSS_VOLUME_';
/** Most volumes one function may name (each is a mount of every replica). */
export const MAX_VOLUMES_PER_FUNCTION = 16;
/** A volume name: a DNS-1123 label, as a function name (and so a valid PVC name suffix on Kubernetes). */
export const VOLUME_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const VOLUME_NAME_MAX_LENGTH = 63;

/** One volume a function names. */
export interface VolumeMount {
  name: string;
  /** `name:ro`: mounted read-only. */
  readOnly: boolean;
}

const FIELD = `annotations.${VOLUME_ANNOTATION}`;
const ALLOWED = `a comma-separated list of volume names (at most ${VOLUME_NAME_MAX_LENGTH} lower-case letters, digits and '-', starting and ending with a letter or digit), each optionally followed by ":ro" for read-only, e.g. "readings,models:ro"`;

function clip(s: string, n = 60): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * Parses a `kss.volume` value. Empty (or only spaces): no volumes. Throws
 * `KSS_INVALID_VOLUME` naming the field for an empty entry, a bad name, a suffix other
 * than `:ro`, a volume named twice or more than {@link MAX_VOLUMES_PER_FUNCTION}.
 */
export function parseVolumeList(value: string, field = FIELD): VolumeMount[] {
  if (value.trim() === '') return [];
  const out: VolumeMount[] = [];
  const seen = new Set<string>();
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') throw new KssError('KSS_INVALID_VOLUME', `${field}: "${clip(value)}" has an empty entry; use ${ALLOWED}`);
    const colon = entry.indexOf(':');
    const name = colon < 0 ? entry : entry.slice(0, colon);
    const suffix = colon < 0 ? undefined : entry.slice(colon + 1);
    if (suffix !== undefined && suffix !== 'ro') {
      throw new KssError('KSS_INVALID_VOLUME', `${field}: "${clip(entry)}" has the suffix ":${clip(suffix, 20)}"; the only suffix is ":ro" (read-only); use ${ALLOWED}`);
    }
    if (name.length === 0 || name.length > VOLUME_NAME_MAX_LENGTH || !VOLUME_NAME_PATTERN.test(name)) {
      throw new KssError('KSS_INVALID_VOLUME', `${field}: "${clip(name)}" is not a valid volume name; use ${ALLOWED}`);
    }
    if (seen.has(name)) throw new KssError('KSS_INVALID_VOLUME', `${field}: volume "${name}" is named twice; name each volume once (with ":ro" for read-only)`);
    seen.add(name);
    out.push({ name, readOnly: suffix === 'ro' });
  }
  if (out.length > MAX_VOLUMES_PER_FUNCTION) {
    throw new KssError('KSS_INVALID_VOLUME', `${field}: ${out.length} volumes; a function may name at most ${MAX_VOLUMES_PER_FUNCTION}`);
  }
  return out;
}

/** The volumes a function names (its `kss.volume` annotation), in the order given. Throws `KSS_INVALID_VOLUME`. */
export function volumesOf(spec: Pick<FunctionSpec, 'annotations'>): VolumeMount[] {
  const value = spec.annotations?.[VOLUME_ANNOTATION];
  return value === undefined ? [] : parseVolumeList(value);
}

/**
 * The size of the claims a function creates on Kubernetes (`kss.volume.size`, default
 * {@link DEFAULT_VOLUME_SIZE}); checked on every provider so a spec is portable.
 * Throws `KSS_INVALID_VOLUME` for something that is not a quantity of bytes.
 */
export function volumeSizeOf(spec: Pick<FunctionSpec, 'annotations'>): string {
  const raw = spec.annotations?.[VOLUME_SIZE_ANNOTATION];
  if (raw === undefined || raw.trim() === '') return DEFAULT_VOLUME_SIZE;
  const value = raw.trim();
  const bytes = memoryBytes(value);
  if (bytes === undefined || bytes <= 0) {
    throw new KssError('KSS_INVALID_VOLUME', `annotations.${VOLUME_SIZE_ANNOTATION}: "${clip(value)}" is not a size; use a Kubernetes quantity of bytes such as "1Gi" or "500Mi"`);
  }
  return value;
}

/** Checks both volume annotations of a spec (deploy-time validation); throws `KSS_INVALID_VOLUME`. */
export function assertValidVolumes(spec: Pick<FunctionSpec, 'annotations'>): void {
  volumesOf(spec);
  volumeSizeOf(spec);
}

/** `KSS_VOLUME_<NAME>`: the name upper-cased, `-` → `_` (`gas-readings` → `KSS_VOLUME_GAS_READINGS`). */
export function volumeEnvName(name: string): string {
  return `${VOLUME_ENV_PREFIX}${name.toUpperCase().replace(/-/g, '_')}`;
}

/** Where a replica sees volume `name` in its sandbox (and in its pod). */
export function volumeMountPath(name: string): string {
  return `${VOLUMES_MOUNT_PATH}/${name}`;
}
