import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { client } from '../lib/api.js';
import { clockTime } from '../lib/format.js';
import { ErrorAlert } from './error-alert.js';
/** One NDJSON line of `/system/logs`. */
import type { LogLine } from '../../../src/logs/log-store.js';

/** Most lines kept on screen (the oldest go first). */
const MAX_LINES = 2000;

interface ShownLine extends LogLine {
  seq: number;
}

type StreamState = 'connecting' | 'following' | 'ended' | 'error';

/**
 * The "Logs" tab: the last 200 lines of the function's logs, then (with Follow)
 * new lines as they come; filterable by instance; auto-scrolls unless the reader
 * scrolled up. The stream is aborted on unmount and whenever the options change.
 */
export function LogsPanel({ name, namespace, instances }: { name: string; namespace?: string; instances: string[] }) {
  const [instance, setInstance] = useState('');
  const [follow, setFollow] = useState(true);
  const [lines, setLines] = useState<ShownLine[]>([]);
  const [state, setState] = useState<StreamState>('connecting');
  const [error, setError] = useState<unknown>();
  const [run, setRun] = useState(0);
  const preRef = useRef<HTMLPreElement>(null);
  const stick = useRef(true);

  useEffect(() => {
    const abort = new AbortController();
    let seq = 0;
    setLines([]);
    setError(undefined);
    setState('connecting');
    stick.current = true;
    (async () => {
      const res = await client.logs(name, { ...(namespace ? { namespace } : {}), tail: 200, follow, ...(instance ? { instance } : {}), signal: abort.signal });
      if (abort.signal.aborted) return;
      setState(follow ? 'following' : 'ended');
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done || abort.signal.aborted) break;
        buffered += value;
        const parts = buffered.split('\n');
        buffered = parts.pop()!;
        const added: ShownLine[] = [];
        for (const part of parts) {
          if (!part.trim()) continue; // keep-alive
          try {
            added.push({ ...(JSON.parse(part) as LogLine), seq: seq++ });
          } catch {
            added.push({ name, namespace: namespace ?? '', instance: '', timestamp: '', text: part, stream: 'stdout', seq: seq++ });
          }
        }
        if (added.length) setLines((prev) => (prev.length + added.length > MAX_LINES ? [...prev, ...added].slice(-MAX_LINES) : [...prev, ...added]));
      }
      if (!abort.signal.aborted) setState('ended');
    })().catch((err: unknown) => {
      if (abort.signal.aborted) return; // our own abort: not an error
      setError(err);
      setState('error');
    });
    return () => abort.abort();
  }, [name, namespace, instance, follow, run]);

  // Keep the newest line in view unless the reader scrolled up.
  useLayoutEffect(() => {
    const pre = preRef.current;
    if (pre && stick.current) pre.scrollTop = pre.scrollHeight;
  }, [lines]);

  const onScroll = () => {
    const pre = preRef.current;
    if (pre) stick.current = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
  };

  const options = instance && !instances.includes(instance) ? [...instances, instance] : instances;
  const status = state === 'connecting' ? 'Connecting…' : state === 'following' ? 'Following new lines' : state === 'ended' ? (follow ? 'The stream ended' : 'Showing the last 200 lines') : 'Stopped';

  return (
    <div className="logs">
      <div className="toolbar">
        <div className="field field-inline">
          <label htmlFor="logs-instance">Instance</label>
          <select id="logs-instance" value={instance} onChange={(e) => setInstance(e.target.value)}>
            <option value="">All instances</option>
            {options.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </div>
        <label className="check">
          <input id="logs-follow" type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <button type="button" className="secondary" onClick={() => setRun((n) => n + 1)}>
          {follow ? 'Reconnect' : 'Refresh'}
        </button>
        <span className="muted small" aria-live="polite">
          {status} · {lines.length} line{lines.length === 1 ? '' : 's'}
        </span>
      </div>
      <ErrorAlert error={error} prefix="Cannot read the logs" />
      <pre data-testid="logs" className="log-view" ref={preRef} onScroll={onScroll} tabIndex={0} aria-label={`Logs of ${name}`}>
        {lines.length === 0 && state !== 'connecting' ? <span className="muted">No log lines yet.</span> : null}
        {lines.map((l) => (
          <span key={l.seq} className={`log-line log-${l.stream}`}>
            <span className="log-time">{l.timestamp ? clockTime(l.timestamp) : ''}</span> <span className="log-instance">{l.instance}</span>{' '}
            <span className="log-stream">{l.stream}</span> {l.text}
            {'\n'}
          </span>
        ))}
      </pre>
    </div>
  );
}
