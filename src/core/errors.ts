/**
 * The one error catalogue. Every error the platform itself produces (as opposed to
 * a function's own reply) is a {@link KssError} with a stable code from here; the HTTP
 * status is decided here and nowhere else, and the gateway turns it into
 * `{ "code", "message" }` with the header `X-Kss-Error: <code>`.
 */

/** Stable error codes and their HTTP status. Never renumber or rename a code. */
export const ERROR_CATALOGUE = {
  KSS_BAD_REQUEST: 400,
  KSS_INVALID_JSON: 400,
  KSS_INVALID_YAML: 400,
  KSS_INVALID_NAME: 400,
  KSS_INVALID_NAMESPACE: 400,
  KSS_INVALID_SPEC: 400,
  KSS_INVALID_ARCHIVE: 400,
  KSS_CODE_REQUIRED: 400,
  KSS_UNSUPPORTED_RUNTIME: 400,
  KSS_INVALID_HANDLER: 400,
  /** A function lists a secret that does not exist in its namespace (deploy/update refused). */
  KSS_MISSING_SECRET: 400,
  /** An `X-Callback-Url` that is not an absolute http(s) URL, or not on the allow-list. */
  KSS_INVALID_CALLBACK: 400,
  /** A trigger in the spec is malformed: unknown type, bad cron expression, broker URL, topic or subject. */
  KSS_INVALID_TRIGGER: 400,
  /** A trigger's broker could not be reached at deploy (the reason is in the message). */
  KSS_TRIGGER_UNREACHABLE: 400,
  /** A `kss.volume` (or `kss.volume.size`) annotation that is malformed: a bad name, a suffix other than `:ro`, a volume named twice. */
  KSS_INVALID_VOLUME: 400,
  /** A traffic split that is malformed: not whole numbers, not adding up to 100, a revision named twice or not in the split. */
  KSS_INVALID_TRAFFIC: 400,
  KSS_BUILD_FAILED: 422,
  KSS_UNAUTHORIZED: 401,
  KSS_FORBIDDEN: 403,
  KSS_FUNCTION_NOT_FOUND: 404,
  KSS_CODE_NOT_FOUND: 404,
  KSS_TOKEN_NOT_FOUND: 404,
  KSS_SECRET_NOT_FOUND: 404,
  KSS_CALL_NOT_FOUND: 404,
  /** A revision that does not exist (or was garbage-collected). */
  KSS_REVISION_NOT_FOUND: 404,
  KSS_ROUTE_NOT_FOUND: 404,
  KSS_METHOD_NOT_ALLOWED: 405,
  KSS_FUNCTION_EXISTS: 409,
  /** Replay of a call that is still queued or running. */
  KSS_CALL_NOT_FINISHED: 409,
  KSS_SECRET_EXISTS: 409,
  /** A secret a deployed function lists cannot be deleted (its next replica start would fail). */
  KSS_SECRET_IN_USE: 409,
  KSS_PAYLOAD_TOO_LARGE: 413,
  KSS_RATE_LIMITED: 429,
  KSS_CAPACITY_EXCEEDED: 429,
  /** Never sent (nobody is listening): recorded when a client hangs up mid-request, as nginx's 499. */
  KSS_CLIENT_CLOSED: 499,
  KSS_UNSUPPORTED_MEDIA_TYPE: 415,
  KSS_REPLICA_FAILED: 502,
  KSS_NO_REPLICAS: 503,
  KSS_SHUTTING_DOWN: 503,
  /** The provider's backend (the Kubernetes API) refused or could not be reached; the message has its answer. */
  KSS_PROVIDER_UNAVAILABLE: 503,
  /** `/ui/` on a gateway whose dashboard was never built (`npm start` builds it). */
  KSS_DASHBOARD_NOT_BUILT: 503,
  KSS_OVERLOADED: 503,
  KSS_FUNCTION_TIMEOUT: 504,
  /** The gateway's data disk is full (SQLITE_FULL, ENOSPC): nothing was stored; what was stored before is intact. */
  KSS_INSUFFICIENT_STORAGE: 507,
  KSS_INTERNAL: 500,
} as const;

/** A catalogue code. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The JSON body of every platform error. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/**
 * An error made by the platform. `message` is written for the person reading it:
 * it says what was wrong and, where it can, what to do next. It never carries stack
 * traces, internal paths or secret values.
 */
export class KssError extends Error {
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (sets `Retry-After`). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfter?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KssError';
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }

  /** The HTTP status this error maps to. */
  get status(): number {
    return ERROR_CATALOGUE[this.code];
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}

/** Type guard for {@link KssError}, also across module copies (checks the shape). */
export function isKssError(err: unknown): err is KssError {
  return (
    err instanceof KssError ||
    (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'KssError' &&
      typeof (err as { code?: unknown }).code === 'string' &&
      (err as { code: string }).code in ERROR_CATALOGUE)
  );
}

/** True when `code` is a catalogue code (used by clients reading `X-Kss-Error`). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, code);
}
