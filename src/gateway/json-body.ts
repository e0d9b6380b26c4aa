/**
 * The JSON body parser of every route: an empty body is `undefined`; invalid JSON is
 * `KSS_INVALID_JSON` naming only the position, never V8's message, which can quote the
 * body (a secret's value, an environment variable).
 */
import { KssError } from '../core/index.js';

export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    const at = /at position (\d+)/.exec((err as Error).message);
    throw new KssError('KSS_INVALID_JSON', `body: not valid JSON${at ? ` (at position ${at[1]})` : ''}`);
  }
}
