/**
 * Reads the OpenFaaS `Secret` body (`{"name", "namespace"?, "value"? | "rawValue"?}`,
 * faas-provider's types.Secret; `rawValue` is base64, as Go encodes a []byte). Every
 * error names the field and none repeats a value.
 */
import { assertValidNamespace, DEFAULT_NAMESPACE, isPlainObject, KssError } from '../core/index.js';
import { MAX_SECRET_BYTES } from './secret-store.js';
import { assertValidSecretName } from './secret-name.js';

/** A parsed secret request. */
export interface SecretRequest {
  name: string;
  namespace: string;
  /** The value, for create and update. */
  value?: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Parses a secret request body.
 *
 * @param queryNamespace `?namespace=` (validated), used when the body has none.
 * @param withValue true for create and update (exactly one of value, rawValue), false for delete.
 */
export function parseSecretRequest(body: unknown, queryNamespace: string | undefined, withValue: boolean): SecretRequest {
  const shape = withValue ? '{"name": "...", "value": "..."} or {"name": "...", "rawValue": "<base64>"}' : '{"name": "..."}';
  if (!isPlainObject(body)) throw new KssError('KSS_BAD_REQUEST', `body: expected a JSON object ${shape}`);
  assertValidSecretName(body.name, 'name');
  const namespace = requestNamespace(body.namespace, queryNamespace);
  if (!withValue) return { name: body.name, namespace };

  const hasValue = present(body.value);
  const hasRaw = present(body.rawValue);
  if (hasValue && hasRaw) throw new KssError('KSS_BAD_REQUEST', 'value, rawValue: give one of them, not both');
  if (!hasValue && !hasRaw) throw new KssError('KSS_BAD_REQUEST', `value: required (a string), or rawValue (base64 for binary data); expected ${shape}`);
  let value: Buffer;
  if (hasValue) {
    if (typeof body.value !== 'string') throw new KssError('KSS_BAD_REQUEST', 'value: expected a string (use rawValue, base64, for binary data)');
    value = Buffer.from(body.value, 'utf8');
  } else {
    if (typeof body.rawValue !== 'string') throw new KssError('KSS_BAD_REQUEST', 'rawValue: expected a base64 string');
    value = decodeBase64(body.rawValue);
  }
  if (value.byteLength > MAX_SECRET_BYTES) {
    throw new KssError('KSS_PAYLOAD_TOO_LARGE', `${hasValue ? 'value' : 'rawValue'}: ${Math.ceil(value.byteLength / 1024)} KiB is more than a secret may hold (${MAX_SECRET_BYTES / 1024} KiB)`);
  }
  return { name: body.name, namespace, value };
}

/** Body `namespace` (faas-netes reads it there), else `?namespace=` (faasd reads it there), else the default. */
function requestNamespace(fromBody: unknown, fromQuery: string | undefined): string {
  if (!present(fromBody)) return fromQuery ?? DEFAULT_NAMESPACE;
  assertValidNamespace(fromBody);
  if (fromQuery !== undefined && fromQuery !== fromBody) {
    throw new KssError('KSS_INVALID_NAMESPACE', `namespace: the body says "${fromBody}" but the query says "${fromQuery}"; give one`);
  }
  return fromBody;
}

/** Absent, as Go's `omitempty` leaves it: undefined, null or "". */
function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** Strict standard base64 (padding optional, as Go's and Node's encoders differ); round-trips or fails. */
function decodeBase64(text: string): Buffer {
  const bad = () => new KssError('KSS_BAD_REQUEST', 'rawValue: not valid base64 (standard alphabet A-Z a-z 0-9 + /, with = padding)');
  if (!BASE64.test(text) || text.replace(/=+$/, '').length % 4 === 1) throw bad();
  const padded = text.replace(/=+$/, '');
  if (text.length !== padded.length && text.length % 4 !== 0) throw bad();
  const buf = Buffer.from(padded, 'base64');
  if (buf.toString('base64').replace(/=+$/, '') !== padded) throw bad();
  return buf;
}
