import { Transform, type TransformCallback } from 'node:stream';
import { KssError } from '../core/index.js';

/** Error for a request body over the gateway's limit. */
export function payloadTooLarge(limit: number): KssError {
  return new KssError('KSS_PAYLOAD_TOO_LARGE', `request body is larger than the limit of ${limit} bytes; raise it with \`kss up --max-body\``);
}

/**
 * Passes bytes through and fails with `KSS_PAYLOAD_TOO_LARGE` once more than
 * `limit` have gone by. Used only for bodies without a Content-Length; declared
 * lengths are checked before anything is read.
 */
export class BodyLimit extends Transform {
  #seen = 0;
  readonly #limit: number;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) cb(payloadTooLarge(this.#limit));
    else cb(null, chunk);
  }
}
