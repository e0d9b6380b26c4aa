/**
 * `node check.js <codeDir> [handler]`: loads a function's handler the way a replica
 * does and reports the outcome, so a deploy can refuse a handler without an entry
 * point before anything is started. Exit 0 with `{"file","kind"}` on stdout, or 3
 * with the reason (naming the file and the expected signatures) on stderr.
 */
import { loadHandler } from './handler-loader.js';

const [codeDir, handler] = process.argv.slice(2);
try {
  const loaded = await loadHandler(codeDir ?? process.cwd(), handler || undefined);
  process.stdout.write(`${JSON.stringify({ file: loaded.file, kind: loaded.kind })}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(3);
}
