/**
 * A function's output on Kubernetes, from the pod logs API: one read per pod of the
 * function (`readNamespacedPodLog` with `timestamps=true`, so every line carries the
 * kubelet's RFC 3339 time), and for follow one stream per pod (client-node's `Log`),
 * including pods that start later, each line tagged with its pod's name as `instance`.
 *
 * Follow goes on exactly from the read: each pod's stream starts at `sinceTime` = the
 * last timestamp read from it, and the lines at or before that point already read are
 * dropped (kubelet timestamps have nanoseconds, so equal ones are the same lines). A
 * stream that ends while its pod lives (the container restarted, the connection broke)
 * is opened again the same way.
 */
import { Writable } from 'node:stream';
import { Log, type CoreV1Api, type Informer, type KubeConfig, type ObjectCache, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock, FunctionLogLine, FunctionLogQuery, FunctionLogs, FunctionRef } from '../../core/index.js';
import { FUNCTION_LABEL, REVISION_OF_LABEL } from './function-resource.js';

/** Longest line passed on (as the gateway's log store cuts them). */
const MAX_LINE_CHARS = 16 * 1024;
/** A pod's stream that ended while the pod lives is opened again after this long. */
const REOPEN_MS = 1_000;

export interface PodLogReaderOptions {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  /** The pod informer of a namespace, once it has listed. */
  pods: (namespace: string) => Promise<Informer<V1Pod> & ObjectCache<V1Pod>>;
  logger: Logger;
  clock: Clock;
}

/** Where a pod's lines were read up to: the last timestamp and how many lines had exactly it. */
interface Cursor {
  raw: string;
  key: string;
  count: number;
}

/** Reads and follows the logs of a function's pods. */
export class PodLogReader {
  readonly #o: PodLogReaderOptions;
  readonly #log: Log;

  constructor(options: PodLogReaderOptions) {
    this.#o = options;
    this.#log = new Log(options.kubeConfig);
  }

  /** The lines of every pod of `ref` (the query applied per pod), oldest first, and follow from there. */
  async read(ref: FunctionRef, query: FunctionLogQuery): Promise<FunctionLogs> {
    const informer = await this.#o.pods(ref.namespace);
    const pods = podsOf(informer, ref, query.instance);
    const cursors = new Map<string, Cursor | undefined>();
    const perPod = await Promise.all(
      pods.map(async (pod) => {
        const name = pod.metadata!.name!;
        // tail=0 still reads one line: it is where follow goes on from.
        const tail = query.tail === 0 ? 1 : query.tail;
        const lines = await this.#readPod(ref, name, tail, query.since);
        if (lines === undefined) return [];
        cursors.set(name, cursorOf(lines));
        return query.tail === 0 ? [] : lines.map((l) => l.line);
      }),
    );
    const lines = perPod.flat().sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    return { lines, follow: (onLine, signal) => this.#follow(ref, query, informer, cursors, onLine, signal) };
  }

  /** One pod's lines; undefined when its log cannot be read (not started yet, gone). */
  async #readPod(ref: FunctionRef, pod: string, tail: number | undefined, since: number | undefined): Promise<Array<{ raw: string; key: string; line: FunctionLogLine }> | undefined> {
    let text: string;
    try {
      text = await this.#o.core.readNamespacedPodLog({
        name: pod,
        namespace: ref.namespace,
        container: ref.name,
        timestamps: true,
        ...(tail !== undefined ? { tailLines: tail } : {}),
        // sinceSeconds (the typed client has no sinceTime), a second early; the exact cut is below.
        ...(since !== undefined ? { sinceSeconds: Math.max(1, Math.ceil((this.#o.clock.now() - since) / 1000) + 1) } : {}),
      });
    } catch (err) {
      this.#o.logger.debug({ pod, namespace: ref.namespace, status: (err as { code?: unknown }).code }, 'pod log not readable; skipped');
      return undefined;
    }
    const out: Array<{ raw: string; key: string; line: FunctionLogLine }> = [];
    for (const raw of String(text ?? '').split('\n')) {
      if (!raw) continue;
      const parsed = parseLine(ref, pod, raw, this.#o.clock);
      if (since !== undefined && Date.parse(parsed.line.timestamp) < since) continue;
      out.push(parsed);
    }
    return out;
  }

  #follow(ref: FunctionRef, query: FunctionLogQuery, informer: Informer<V1Pod> & ObjectCache<V1Pod>, cursors: Map<string, Cursor | undefined>, onLine: (line: FunctionLogLine) => void, signal: AbortSignal): void {
    if (signal.aborted) return;
    /** Pods with a stream open (or being opened), by name; the stream's stop. */
    const open = new Map<string, () => void>();
    const timers = new Set<() => void>();

    const start = (pod: string) => {
      if (signal.aborted || open.has(pod)) return;
      let stopped = false;
      let controller: AbortController | undefined;
      let carry = '';
      // Where this stream goes on from: lines before the cursor, and the `count` lines at its exact time, were delivered.
      const at = cursors.get(pod);
      const skipKey = at?.key;
      let skipLeft = at?.count ?? 0;
      const deliver = (raw: string) => {
        if (!raw) return;
        const parsed = parseLine(ref, pod, raw, this.#o.clock);
        if (skipKey !== undefined && parsed.key) {
          if (parsed.key < skipKey) return;
          if (parsed.key === skipKey && skipLeft > 0) {
            skipLeft--;
            return;
          }
        }
        if (query.since !== undefined && Date.parse(parsed.line.timestamp) < query.since) return;
        cursors.set(pod, advance(cursors.get(pod), parsed));
        onLine(parsed.line);
      };
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          const text = carry + chunk.toString('utf8');
          const parts = text.split('\n');
          carry = parts.pop() ?? '';
          for (const p of parts) deliver(p);
          done();
        },
        final(done) {
          deliver(carry);
          carry = '';
          done();
        },
      });
      // The response body is piped in: abort makes it emit 'error', which must have a listener.
      sink.on('pipe', (src) => src.on('error', () => sink.destroy()));
      const ended = () => {
        if (stopped) return;
        stopped = true;
        open.delete(pod);
        if (signal.aborted) return;
        // Going on while the pod lives (container restart, broken connection): from the cursor.
        const live = informer.get(pod, ref.namespace);
        if (live && !live.metadata?.deletionTimestamp) {
          const cancel = this.#o.clock.setTimeout(() => {
            timers.delete(cancel);
            start(pod);
          }, REOPEN_MS);
          timers.add(cancel);
        }
      };
      sink.once('finish', ended);
      sink.once('close', ended);
      const stop = () => {
        stopped = true;
        controller?.abort();
        sink.destroy();
      };
      open.set(pod, stop);
      const from = cursors.get(pod)?.raw ?? (query.since !== undefined ? new Date(query.since).toISOString() : undefined);
      this.#log
        .log(ref.namespace, pod, ref.name, sink, { follow: true, timestamps: true, ...(from ? { sinceTime: from } : {}) })
        .then((c) => {
          controller = c;
          if (stopped) c.abort();
        })
        .catch((err: unknown) => {
          // Not started yet (the kubelet answers 400) or gone: a pod update starts it again.
          this.#o.logger.debug({ pod, namespace: ref.namespace, status: (err as { code?: unknown }).code }, 'pod log not followable yet');
          if (open.get(pod) === stop) open.delete(pod);
          stopped = true;
          sink.destroy();
        });
    };

    const onPod = (pod: V1Pod) => {
      const name = pod.metadata?.name;
      if (!name || !isPodOf(pod, ref, query.instance) || pod.metadata?.deletionTimestamp || !hasStarted(pod)) return;
      // A pod not seen by the read started since: all of its lines are new.
      if (!cursors.has(name)) cursors.set(name, undefined);
      start(name);
    };
    const onGone = (pod: V1Pod) => {
      const name = pod.metadata?.name;
      if (name && open.has(name)) {
        const stop = open.get(name)!;
        open.delete(name);
        stop();
      }
    };
    informer.on('add', onPod);
    informer.on('update', onPod);
    informer.on('delete', onGone);
    for (const pod of podsOf(informer, ref, query.instance)) {
      if (cursors.has(pod.metadata!.name!) || hasStarted(pod)) start(pod.metadata!.name!);
    }
    signal.addEventListener(
      'abort',
      () => {
        informer.off('add', onPod);
        informer.off('update', onPod);
        informer.off('delete', onGone);
        for (const cancel of timers) cancel();
        timers.clear();
        for (const stop of [...open.values()]) stop();
        open.clear();
      },
      { once: true },
    );
  }
}

function podsOf(informer: ObjectCache<V1Pod>, ref: FunctionRef, instance: string | undefined): V1Pod[] {
  return informer
    .list(ref.namespace)
    .filter((p) => isPodOf(p, ref, instance) && !p.metadata?.deletionTimestamp)
    .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
}

function isPodOf(pod: V1Pod, ref: FunctionRef, instance: string | undefined): boolean {
  const name = pod.metadata?.name;
  const labels = pod.metadata?.labels ?? {};
  // A function's pods, its revisions' too (their deployments are NAME--rN; the pod name says which).
  const mine = labels[FUNCTION_LABEL] === ref.name || labels[REVISION_OF_LABEL] === ref.name;
  return !!name && mine && (instance === undefined || instance === name);
}

/** A container has started (before that the kubelet has no log to give). */
function hasStarted(pod: V1Pod): boolean {
  return (pod.status?.containerStatuses ?? []).some((c) => c.state?.running || c.state?.terminated || c.lastState?.terminated) || pod.status?.phase === 'Running';
}

/** `<RFC3339Nano> <text>` (timestamps=true) → a line, its raw time and a sortable key of that time. */
function parseLine(ref: FunctionRef, pod: string, raw: string, clock: Clock): { raw: string; key: string; line: FunctionLogLine } {
  const space = raw.indexOf(' ');
  const ts = space > 0 ? raw.slice(0, space) : '';
  const key = timeKey(ts);
  const text0 = key ? raw.slice(space + 1) : raw;
  const text1 = text0.endsWith('\r') ? text0.slice(0, -1) : text0;
  const text = text1.length > MAX_LINE_CHARS ? `${text1.slice(0, MAX_LINE_CHARS)}… [cut: ${text1.length} characters]` : text1;
  const timestamp = key ? new Date(Date.parse(ts)).toISOString() : new Date(clock.now()).toISOString();
  return { raw: key ? ts : '', key: key ?? '', line: { name: ref.name, namespace: ref.namespace, instance: pod, timestamp, text, stream: 'stdout' } };
}

/**
 * A UTC RFC 3339 time as a string that sorts as the time does, to the nanosecond
 * (Go's RFC3339Nano drops trailing zeros, so the raw strings do not); undefined when
 * `ts` is not one.
 */
function timeKey(ts: string): string | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts);
  if (m) return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}`;
  const t = Date.parse(ts);
  if (!/^\d{4}-/.test(ts) || !Number.isFinite(t)) return undefined;
  return `${new Date(t).toISOString().slice(0, 19)}.${String(t % 1000).padStart(3, '0')}000000`;
}

function cursorOf(lines: ReadonlyArray<{ raw: string; key: string }>): Cursor | undefined {
  let c: Cursor | undefined;
  for (const l of lines) c = advance(c, l);
  return c;
}

function advance(c: Cursor | undefined, l: { raw: string; key: string }): Cursor | undefined {
  if (!l.key) return c;
  if (c && c.key === l.key) return { ...c, count: c.count + 1 };
  return { raw: l.raw, key: l.key, count: 1 };
}
