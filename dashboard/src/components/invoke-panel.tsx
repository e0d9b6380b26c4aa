import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, client, type CallView } from '../lib/api.js';
import { bytes, ms, statusLine, stateClass } from '../lib/format.js';
import { href } from '../lib/router.js';
import { ErrorAlert } from './error-alert.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const TERMINAL = new Set(['succeeded', 'failed', 'dead']);
/** Longest response body shown (the rest is cut). */
const MAX_BODY_CHARS = 200_000;

type SyncResult = {
  kind: 'sync';
  request: string;
  status: number;
  statusText: string;
  durationMs: number;
  coldMs: number | null;
  headers: [string, string][];
  body: string;
  note?: string;
};
type Result = SyncResult | { kind: 'error'; request: string; error: unknown; durationMs: number } | { kind: 'async'; request: string; id: string };

/** `Name: value` lines to headers; throws on a line without a colon. */
export function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`Headers, line ${i + 1}: write "Name: value"`);
    const name = line.slice(0, colon).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error(`Headers, line ${i + 1}: "${name}" is not a valid header name`);
    headers[name] = line.slice(colon + 1).trim();
  });
  return headers;
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

/** The response body as text to show: JSON pretty-printed, binary summarised, long bodies cut. */
async function readBody(res: Response): Promise<{ body: string; note?: string }> {
  const type = res.headers.get('content-type') ?? '';
  const buf = await res.arrayBuffer();
  if (/^(image|audio|video|font)\/|octet-stream|zip|gzip|pdf|protobuf/i.test(type)) return { body: '', note: `${bytes(buf.byteLength)} of ${type} (not shown)` };
  let text = new TextDecoder().decode(buf);
  const trimmed = text.trim();
  if (/json/i.test(type) || /^[[{]/.test(trimmed)) {
    try {
      text = JSON.stringify(JSON.parse(trimmed), null, 2);
    } catch {
      /* not JSON after all: show as is */
    }
  }
  if (text.length > MAX_BODY_CHARS) return { body: text.slice(0, MAX_BODY_CHARS), note: `showing the first ${MAX_BODY_CHARS.toLocaleString('en-US')} characters of ${bytes(buf.byteLength)}` };
  return { body: text };
}

/** The "Test" tab: sends a request to the function (synchronously, or queued as an async call) and shows the answer. */
export function InvokePanel({ name, namespace, onInvoked }: { name: string; namespace?: string; /** Called when a call finished (e.g. to refresh counters). */ onInvoked?: () => void }) {
  const [method, setMethod] = useState<string>('POST');
  const [path, setPath] = useState('/');
  const [query, setQuery] = useState('');
  const [headerText, setHeaderText] = useState('');
  const [bodyType, setBodyType] = useState<'text' | 'json' | 'file'>('text');
  const [body, setBody] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [queue, setQueue] = useState(false);
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string>();
  const [result, setResult] = useState<Result>();
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const noBody = method === 'GET';

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFormError(undefined);
    let headers: Record<string, string>;
    let payload: BodyInit | null = null;
    try {
      headers = parseHeaders(headerText);
      if (!noBody) {
        if (bodyType === 'json') {
          if (body.trim()) {
            try {
              JSON.parse(body);
            } catch (err) {
              throw new Error(`Body: not valid JSON (${(err as Error).message})`);
            }
          }
          if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'application/json';
          payload = body;
        } else if (bodyType === 'file') {
          if (!file) throw new Error('Body: choose a file to send');
          if (!hasHeader(headers, 'content-type')) headers['content-type'] = file.type || 'application/octet-stream';
          payload = file;
        } else {
          if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'text/plain; charset=utf-8';
          payload = body;
        }
      }
    } catch (err) {
      setFormError((err as Error).message);
      return;
    }
    const q = query.trim().replace(/^\?/, '');
    const p = (path.trim() || '/').replace(/^(?!\/)/, '/');
    const target = q ? `${p}?${q}` : p;
    const options = { method, path: target, headers, body: payload, ...(namespace ? { namespace } : {}) };
    const request = `${method} ${target}`;
    setBusy(true);
    setResult(undefined);
    const started = performance.now();
    try {
      if (queue) {
        const id = await client.invokeAsync(name, options);
        if (mounted.current) setResult({ kind: 'async', request, id });
      } else {
        const res = await client.invoke(name, options);
        const { body: text, note } = await readBody(res);
        const measured = performance.now() - started;
        const duration = Number(res.headers.get('x-duration-seconds'));
        const cold = res.headers.get('x-kss-cold-start-seconds');
        if (mounted.current) {
          setResult({
            kind: 'sync',
            request,
            status: res.status,
            statusText: res.statusText,
            durationMs: res.headers.has('x-duration-seconds') && Number.isFinite(duration) ? duration * 1000 : measured,
            coldMs: cold !== null && Number.isFinite(Number(cold)) ? Number(cold) * 1000 : null,
            headers: [...res.headers.entries()].sort(([a], [b]) => a.localeCompare(b)),
            body: text,
            ...(note ? { note } : {}),
          });
        }
      }
    } catch (error) {
      if (mounted.current) setResult({ kind: 'error', request, error, durationMs: performance.now() - started });
    } finally {
      if (mounted.current) {
        setBusy(false);
        onInvoked?.();
      }
    }
  };

  return (
    <div className="invoke">
      <form className="form invoke-form" onSubmit={(e) => void submit(e)}>
        <div className="form-row">
          <div className="field field-narrow">
            <label htmlFor="invoke-method">Method</label>
            <select id="invoke-method" value={method} onChange={(e) => setMethod(e.target.value)}>
              {METHODS.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="invoke-path">Path</label>
            <input id="invoke-path" value={path} onChange={(e) => setPath(e.target.value)} spellCheck={false} />
          </div>
          <div className="field">
            <label htmlFor="invoke-query">Query</label>
            <input id="invoke-query" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="a=1&b=2" spellCheck={false} />
          </div>
        </div>
        <div className="field">
          <label htmlFor="invoke-headers">Headers</label>
          <textarea id="invoke-headers" rows={3} value={headerText} onChange={(e) => setHeaderText(e.target.value)} placeholder={'X-Request-Id: 42\nAccept: application/json'} spellCheck={false} aria-describedby="invoke-headers-help" />
          <span id="invoke-headers-help" className="help">
            One <code>Name: value</code> per line.
          </span>
        </div>
        <div className="form-row">
          <div className="field field-narrow">
            <label htmlFor="invoke-body-type">Body type</label>
            <select id="invoke-body-type" value={bodyType} onChange={(e) => setBodyType(e.target.value as 'text' | 'json' | 'file')} disabled={noBody}>
              <option value="text">text</option>
              <option value="json">json</option>
              <option value="file">file</option>
            </select>
          </div>
          {bodyType === 'file' ? (
            <div className="field">
              <label htmlFor="invoke-file">File</label>
              <input id="invoke-file" type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} disabled={noBody} />
            </div>
          ) : null}
        </div>
        {bodyType !== 'file' ? (
          <div className="field">
            <label htmlFor="invoke-body">Body</label>
            <textarea
              id="invoke-body"
              rows={6}
              className="mono"
              value={body}
              onChange={(e) => setBody(e.target.value)}
              disabled={noBody}
              spellCheck={false}
              placeholder={bodyType === 'json' ? '{"name": "world"}' : 'Hello'}
              aria-describedby={noBody ? 'invoke-body-help' : undefined}
            />
            {noBody ? (
              <span id="invoke-body-help" className="help">
                GET requests have no body.
              </span>
            ) : null}
          </div>
        ) : null}
        <div className="form-actions">
          <label className="check">
            <input id="invoke-async" type="checkbox" checked={queue} onChange={(e) => setQueue(e.target.checked)} /> Async (queue the call)
          </label>
          <button type="submit" disabled={busy}>
            {busy ? 'Invoking…' : 'Invoke'}
          </button>
        </div>
        {formError ? (
          <p role="alert" className="alert alert-error">
            {formError}
          </p>
        ) : null}
      </form>
      {result?.kind === 'sync' ? <SyncResultView result={result} /> : null}
      {result?.kind === 'error' ? (
        <div className="result" data-testid="invoke-result" aria-live="polite">
          <p className="result-line">
            <code>{result.request}</code>{' '}
            <span data-testid="invoke-status" className="status status-error">
              {result.error instanceof ApiError && result.error.status ? `${statusLine(result.error.status)} (${result.error.code})` : 'Failed'}
            </span>
          </p>
          <ErrorAlert error={result.error} />
        </div>
      ) : null}
      {result?.kind === 'async' ? <AsyncResultView key={result.id} id={result.id} request={result.request} onFinished={onInvoked} /> : null}
    </div>
  );
}

function statusClass(status: number): string {
  return `status ${status >= 500 ? 'status-error' : status >= 400 ? 'status-warn' : 'status-ok'}`;
}

/** A synchronous call's answer. */
function SyncResultView({ result }: { result: SyncResult }) {
  return (
    <div className="result" data-testid="invoke-result" aria-live="polite">
      <p className="result-line">
        <code>{result.request}</code>{' '}
        <span data-testid="invoke-status" className={statusClass(result.status)}>
          {statusLine(result.status, result.statusText)}
        </span>{' '}
        <span data-testid="invoke-duration">{ms(result.durationMs)}</span>{' '}
        <span data-testid="invoke-cold" className={result.coldMs === null ? 'badge badge-ready' : 'badge badge-starting'}>
          {result.coldMs === null ? 'Warm' : `Cold start (${Math.round(result.coldMs)} ms wait)`}
        </span>
      </p>
      <details className="result-headers">
        <summary>Response headers ({result.headers.length})</summary>
        <dl className="kv">
          {result.headers.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      </details>
      {result.note ? <p className="muted small">{result.note}</p> : null}
      <pre data-testid="invoke-body" className="code-block" tabIndex={0} aria-label="Response body">
        {result.body || (result.note ? '' : '(empty body)')}
      </pre>
    </div>
  );
}

/** An async call, polled every 500 ms until it succeeded, failed or is dead. */
function AsyncResultView({ id, request, onFinished }: { id: string; request: string; onFinished?: () => void }) {
  const [call, setCall] = useState<CallView>();
  const [error, setError] = useState<unknown>();
  const onFinishedRef = useRef(onFinished);
  onFinishedRef.current = onFinished;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const c = await client.getCall(id);
        if (stopped) return;
        setCall(c);
        setError(undefined);
        if (TERMINAL.has(c.state)) {
          onFinishedRef.current?.();
          return;
        }
      } catch (err) {
        if (stopped) return;
        setError(err);
      }
      timer = setTimeout(() => void tick(), 500);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [id]);

  return (
    <div className="result" data-testid="invoke-result" aria-live="polite">
      <p className="result-line">
        <code>{request}</code> queued as call{' '}
        <a href={href(`/calls/${encodeURIComponent(id)}`)} data-testid="invoke-call-id">
          <code>{id}</code>
        </a>{' '}
        <span data-testid="invoke-call-state" className={stateClass(call?.state ?? 'queued')}>
          {call?.state ?? 'queued'}
        </span>
        {call && call.attempts > 1 ? <span className="muted small"> attempt {call.attempts}</span> : null}
      </p>
      <ErrorAlert error={error} prefix="Cannot read the call" />
      {call?.lastError ? <p className="muted small">Last error: {call.lastError}</p> : null}
      {call?.result ? (
        <>
          <p className="result-line">
            <span data-testid="invoke-status" className={statusClass(call.result.status)}>
              {statusLine(call.result.status)}
            </span>{' '}
            <span data-testid="invoke-duration">{ms(call.result.durationSeconds * 1000)}</span>
          </p>
          <pre data-testid="invoke-body" className="code-block" tabIndex={0} aria-label="Result body">
            {prettyMaybe(call.result.body ?? '') || '(empty body)'}
          </pre>
        </>
      ) : null}
    </div>
  );
}

/** Pretty-prints `text` when it is JSON. */
export function prettyMaybe(text: string): string {
  const t = text.trim();
  if (!/^[[{]/.test(t)) return text;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return text;
  }
}
