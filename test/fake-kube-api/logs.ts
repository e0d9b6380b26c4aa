/**
 * Pod log lines appended by tests (or by the workload simulation) and served at
 * `/api/v1/namespaces/{ns}/pods/{name}/log` with `container`, `tailLines`,
 * `sinceTime`, `sinceSeconds`, `limitBytes`, `timestamps` and `follow`.
 */

/** One log line. */
export interface LogLine {
  time: Date;
  line: string;
  /** Container the line belongs to; undefined matches every `?container=`. */
  container?: string;
}

/** Options of {@link PodLogs.append}. */
export interface AppendLogOptions {
  container?: string;
  /** Defaults to now. */
  time?: Date;
}

/** Query of {@link PodLogs.read}. */
export interface LogQuery {
  container?: string;
  tailLines?: number;
  sinceTime?: Date;
  limitBytes?: number;
  timestamps?: boolean;
}

type Follower = (entry: LogLine) => void;

/** Render one line as the kubelet does (`<RFC3339Nano> <line>` with timestamps). */
export function formatLogLine(entry: LogLine, timestamps: boolean): string {
  return `${timestamps ? entry.time.toISOString() + ' ' : ''}${entry.line}\n`;
}

/** Log buffers of every pod, keyed by namespace/name. */
export class PodLogs {
  private readonly lines = new Map<string, LogLine[]>();
  private readonly followers = new Map<string, Set<Follower>>();
  private readonly endHooks = new Map<string, Set<() => void>>();

  private key(namespace: string, pod: string): string {
    return `${namespace}/${pod}`;
  }

  /** Append one line (a trailing newline is stripped) and deliver it to followers. */
  append(namespace: string, pod: string, line: string, options: AppendLogOptions = {}): void {
    const entry: LogLine = { time: options.time ?? new Date(), line: line.replace(/\n$/, ''), container: options.container };
    const key = this.key(namespace, pod);
    if (!this.lines.has(key)) this.lines.set(key, []);
    this.lines.get(key)!.push(entry);
    for (const follower of this.followers.get(key) ?? []) follower(entry);
  }

  /** The lines matching a query, rendered. */
  read(namespace: string, pod: string, query: LogQuery): string {
    let entries = (this.lines.get(this.key(namespace, pod)) ?? []).filter((e) => matches(e, query));
    if (query.tailLines !== undefined) entries = query.tailLines <= 0 ? [] : entries.slice(-query.tailLines);
    let text = entries.map((e) => formatLogLine(e, query.timestamps ?? false)).join('');
    if (query.limitBytes !== undefined) text = Buffer.from(text).subarray(0, query.limitBytes).toString();
    return text;
  }

  /** Be called with every new matching line until the returned function is called or the pod's log ends. */
  follow(namespace: string, pod: string, query: LogQuery, onLine: Follower, onEnd: () => void): () => void {
    const key = this.key(namespace, pod);
    const follower: Follower = (entry) => {
      if (matches(entry, { container: query.container })) onLine(entry);
    };
    if (!this.followers.has(key)) this.followers.set(key, new Set());
    if (!this.endHooks.has(key)) this.endHooks.set(key, new Set());
    this.followers.get(key)!.add(follower);
    this.endHooks.get(key)!.add(onEnd);
    return () => {
      this.followers.get(key)?.delete(follower);
      this.endHooks.get(key)?.delete(onEnd);
    };
  }

  /** End every follow stream of a pod (its container stopped) and optionally forget its lines. */
  end(namespace: string, pod: string, forget = false): void {
    const key = this.key(namespace, pod);
    const hooks = [...(this.endHooks.get(key) ?? [])];
    this.followers.delete(key);
    this.endHooks.delete(key);
    if (forget) this.lines.delete(key);
    for (const hook of hooks) hook();
  }

  /** End every follow stream. */
  endAll(): void {
    for (const key of [...this.endHooks.keys()]) {
      const [namespace, pod] = key.split('/');
      this.end(namespace, pod);
    }
  }
}

function matches(entry: LogLine, query: LogQuery): boolean {
  if (query.container && entry.container && entry.container !== query.container) return false;
  if (query.sinceTime && entry.time < query.sinceTime) return false;
  return true;
}
