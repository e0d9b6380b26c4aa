/**
 * A small human formatter for the gateway's pino logs on a terminal:
 * `12:03:04 INFO  function deployed function=hello.openfaas-fn`. JSON lines pass
 * through untouched with `--log-format json`.
 */
import { Writable } from 'node:stream';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v']);

export function prettyLogStream(out: NodeJS.WritableStream = process.stdout): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) out.write(`${formatLine(line)}\n`);
      cb();
    },
  });
}

export function formatLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(typeof o.time === 'number' ? o.time : Date.now()).toISOString().slice(11, 19);
  const level = LEVELS[o.level as number] ?? String(o.level);
  const extras: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (SKIP.has(k) || v === undefined) continue;
    if (k === 'err' && typeof v === 'object' && v) {
      extras.push(`err="${String((v as { message?: unknown }).message ?? '')}"`);
      continue;
    }
    extras.push(`${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`);
  }
  return `${time} ${level} ${String(o.msg ?? '')}${extras.length ? `  ${extras.join(' ')}` : ''}`;
}
