/**
 * The functions the soak deploys: one small echo per runtime for the synchronous load,
 * one that records each async call it runs, one that records each trigger message, and
 * the two faulty ones (a handler that never answers, one that eats memory past its limit).
 * Recording is a POST to the soak's receiver on 127.0.0.1 (`SOAK_RAN`), which sandboxed
 * replicas reach over the shared loopback.
 */

/** One function: its files and the rest of its spec. */
export interface SoakFunction {
  name: string;
  runtime: 'node' | 'python' | 'go' | 'exec';
  files: Record<string, string>;
  spec: Record<string, unknown>;
  /** Gets the steady synchronous load (`ok:<body>` expected). */
  sync?: boolean;
}

/**
 * The trigger function's name in run `run`: unique per run, because its RabbitMQ queue is
 * named after it on a broker that other runs (a colleague's `npm test`) share.
 */
export function eventsFunctionName(run: string): string {
  return `soak-events-${run}`;
}

/** Functions whose replicas the chaos kills, and whose readiness ends a fault window. */
export function workloadOf(run: string): string[] {
  return ['soak-node', 'soak-python', 'soak-go', 'soak-exec', 'soak-async', eventsFunctionName(run)];
}

/**
 * Every function of soak run `run`; `ran` is the receiver's URL, `hangTimeout` the hanging
 * function's timeout.
 */
export function soakFunctions(ran: string, hangTimeout: string, run: string): SoakFunction[] {
  const env = { envVars: { SOAK_RAN: ran } };
  return [
    { name: 'soak-node', runtime: 'node', sync: true, files: { 'handler.js': `export default async (req) => new Response('ok:' + (await req.text()));\n` }, spec: {} },
    { name: 'soak-python', runtime: 'python', sync: true, files: { 'handler.py': `def handle(event, context):\n    return 'ok:' + event.text\n` }, spec: {} },
    {
      name: 'soak-go',
      runtime: 'go',
      sync: true,
      files: {
        'handler.go': `package main

import (
	"io"
	"net/http"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Write(append([]byte("ok:"), body...))
}
`,
      },
      spec: {},
    },
    { name: 'soak-exec', runtime: 'exec', sync: true, files: { 'handler.sh': `printf 'ok:'\ncat\n` }, spec: { envProcess: 'sh handler.sh' } },
    {
      name: 'soak-async',
      runtime: 'node',
      files: {
        'handler.js': `module.exports = async (event, context) => {
  const r = await fetch(process.env.SOAK_RAN + '?kind=async&id=' + encodeURIComponent(event.headers['x-call-id']), { method: 'POST' });
  return context.status(r.ok ? 200 : 503).succeed('done');
};
`,
      },
      spec: { ...env, timeout: '5s', annotations: { 'kss.queue.concurrency': '16', 'com.openfaas.retry.attempts': '100', 'com.openfaas.retry.min_wait': '100ms', 'com.openfaas.retry.max_wait': '2s' } },
    },
    {
      name: eventsFunctionName(run),
      runtime: 'node',
      files: {
        'handler.js': `module.exports = async (event, context) => {
  const body = Buffer.isBuffer(event.body) ? event.body.toString('utf8') : typeof event.body === 'string' ? event.body : JSON.stringify(event.body ?? '');
  const r = await fetch(process.env.SOAK_RAN + '?kind=trigger&id=' + encodeURIComponent(body), { method: 'POST' });
  return context.status(r.ok ? 200 : 503).succeed('ok');
};
`,
      },
      // Triggers are added by the soak (they name its brokers). A short timeout keeps JetStream's ack_wait (timeout + 15 s) short.
      spec: { ...env, timeout: '3s', annotations: { 'kss.queue.concurrency': '16', 'com.openfaas.retry.attempts': '100', 'com.openfaas.retry.min_wait': '100ms', 'com.openfaas.retry.max_wait': '2s' } },
    },
    // Never answers: every call is a 504 after its timeout.
    { name: 'soak-hang', runtime: 'node', files: { 'handler.js': `export default async () => new Promise(() => {});\n` }, spec: { timeout: hangTimeout } },
    // Allocates (and touches) 16 MiB at a time, up to 512 MiB, under a 64 MiB limit: the OOM killer ends it.
    {
      name: 'soak-hog',
      runtime: 'node',
      files: {
        'handler.js': `export default async () => {
  const keep = [];
  for (let i = 0; i < 32; i++) {
    keep.push(Buffer.alloc(16 * 1024 * 1024, i + 1));
    await new Promise((r) => setTimeout(r, 5));
  }
  return new Response('not-limited:' + keep.length * 16 + 'MiB');
};
`,
      },
      spec: { timeout: '10s', limits: { memory: '64Mi' } },
    },
  ];
}
