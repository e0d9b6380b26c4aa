import { useEffect, useState, type ReactNode } from 'react';
import { ErrorAlert } from '../components/error-alert.js';
import { prettyMaybe } from '../components/invoke-panel.js';
import { ApiError, client, type CallView } from '../lib/api.js';
import { bytes, dateTime, ms, NONE, relativeTime, stateClass, statusLine } from '../lib/format.js';
import { functionPath, href } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';

const STATES = ['all', 'queued', 'running', 'succeeded', 'failed', 'dead'] as const;
const TERMINAL = new Set(['succeeded', 'failed', 'dead']);

function unavailable(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.code === 'KSS_ROUTE_NOT_FOUND';
}

function Unavailable() {
  return (
    <p role="alert" className="alert alert-info">
      Async calls are not available on this gateway.
    </p>
  );
}

/** Async calls (routes `/calls` and `/calls/<id>`): the list with filters, or one call in full with Replay. */
export function CallsPage({ id }: { id?: string }) {
  return id ? <CallDetail id={id} /> : <CallList />;
}

/** The newest 100 calls, filtered by state and function, refreshed every 3 s. */
function CallList() {
  const [state, setState] = useState<(typeof STATES)[number]>('all');
  const [fnInput, setFnInput] = useState('');
  const [fnFilter, setFnFilter] = useState('');
  useEffect(() => {
    const t = setTimeout(() => setFnFilter(fnInput.trim()), 300);
    return () => clearTimeout(t);
  }, [fnInput]);

  const poll = usePoll(() => client.listCalls({ ...(state !== 'all' ? { state } : {}), ...(fnFilter ? { function: fnFilter } : {}), limit: 100 }), 3000, [state, fnFilter]);
  const items = poll.data?.items;
  const now = Date.now();

  if (unavailable(poll.error)) {
    return (
      <section>
        <h1>Async calls</h1>
        <Unavailable />
      </section>
    );
  }

  return (
    <section>
      <h1>Async calls</h1>
      <div className="toolbar">
        <div className="field field-inline">
          <label htmlFor="calls-state">State</label>
          <select id="calls-state" value={state} onChange={(e) => setState(e.target.value as (typeof STATES)[number])}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-inline">
          <label htmlFor="calls-function">Function</label>
          <input id="calls-function" type="search" value={fnInput} onChange={(e) => setFnInput(e.target.value)} placeholder="name or name.namespace" spellCheck={false} />
        </div>
        {items ? (
          <span className="muted small" aria-live="polite">
            {items.length === 100 ? 'The newest 100 calls' : `${items.length} call${items.length === 1 ? '' : 's'}`}
          </span>
        ) : null}
      </div>
      <ErrorAlert error={poll.error} prefix="Cannot list the calls" />
      {poll.loading ? <p className="muted">Loading…</p> : null}
      {items && items.length === 0 ? (
        <div className="empty">
          <h2>No calls{state !== 'all' || fnFilter ? ' match' : ' yet'}</h2>
          <p className="muted">
            Queue one from a function’s Test tab (“Async”), or with <code>curl -X POST /async-function/NAME</code>.
          </p>
        </div>
      ) : null}
      {items && items.length > 0 ? (
        <div className="table-wrap">
          <table data-testid="calls-table">
            <thead>
              <tr>
                <th scope="col">Call</th>
                <th scope="col">Function</th>
                <th scope="col">State</th>
                <th scope="col" className="num">
                  Attempts
                </th>
                <th scope="col">Request</th>
                <th scope="col">Result</th>
                <th scope="col" className="num">
                  Duration
                </th>
                <th scope="col">Created</th>
                <th scope="col">Finished</th>
              </tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.id} data-testid={`call-row-${c.id}`}>
                  <td>
                    <a href={href(`/calls/${encodeURIComponent(c.id)}`)}>
                      <code>{c.id.length > 14 ? `${c.id.slice(0, 12)}…` : c.id}</code>
                    </a>
                  </td>
                  <td>
                    {c.function} <span className="muted small">{c.namespace}</span>
                  </td>
                  <td>
                    <span className={stateClass(c.state)}>{c.state}</span>
                  </td>
                  <td className="num">{c.attempts}</td>
                  <td>
                    <code>
                      {c.request.method} {c.request.path || '/'}
                      {c.request.query ? `?${c.request.query}` : ''}
                    </code>
                  </td>
                  <td>{c.result ? statusLine(c.result.status) : NONE}</td>
                  <td className="num">{c.result ? ms(c.result.durationSeconds * 1000) : NONE}</td>
                  <td>
                    <time dateTime={c.createdAt} title={dateTime(c.createdAt)}>
                      {relativeTime(c.createdAt, now)}
                    </time>
                  </td>
                  <td>{c.finishedAt ? <time dateTime={c.finishedAt} title={dateTime(c.finishedAt)}>{relativeTime(c.finishedAt, now)}</time> : NONE}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{children ?? NONE}</dd>
    </div>
  );
}

function when(t: string | undefined, now: number): ReactNode {
  if (!t) return NONE;
  return (
    <time dateTime={t}>
      {dateTime(t)} <span className="muted small">({relativeTime(t, now)})</span>
    </time>
  );
}

/** One call in full; polled every second until it finished; Replay for failed and dead calls. */
function CallDetail({ id }: { id: string }) {
  const [version, setVersion] = useState(0);
  const [terminal, setTerminal] = useState(false);
  const [gone, setGone] = useState(false);
  const poll = usePoll(() => client.getCall(id), terminal || gone ? 0 : 1000, [id, version]);
  const missing = poll.error instanceof ApiError && (poll.error.code === 'KSS_CALL_NOT_FOUND' || poll.error.code === 'KSS_ROUTE_NOT_FOUND');
  if (missing !== gone) setGone(missing);
  const call = poll.data;
  useEffect(() => {
    if (call) setTerminal(TERMINAL.has(call.state));
  }, [call]);
  const [replaying, setReplaying] = useState(false);
  const [replayError, setReplayError] = useState<unknown>();
  const now = Date.now();

  const replay = async () => {
    setReplaying(true);
    setReplayError(undefined);
    try {
      await client.replayCall(id);
      setTerminal(false);
      setVersion((v) => v + 1);
    } catch (err) {
      setReplayError(err);
    } finally {
      setReplaying(false);
    }
  };

  return (
    <section>
      <p className="breadcrumb">
        <a href={href('/calls')}>Async calls</a> <span aria-hidden="true">/</span>
      </p>
      <div className="page-head">
        <h1>
          Call <code className="break">{id}</code>
        </h1>
        {call && (call.state === 'failed' || call.state === 'dead') ? (
          <button type="button" onClick={() => void replay()} disabled={replaying}>
            Replay
          </button>
        ) : null}
      </div>
      {unavailable(poll.error) ? <Unavailable /> : poll.error instanceof ApiError && poll.error.code === 'KSS_CALL_NOT_FOUND' ? (
        <p role="alert" className="alert alert-error">
          There is no call “{id}” (calls are kept for a limited time). <a href={href('/calls')}>Back to the calls</a>.
        </p>
      ) : (
        <ErrorAlert error={poll.error} prefix="Cannot read the call" />
      )}
      <ErrorAlert error={replayError} prefix="Replay failed" />
      {poll.loading ? <p className="muted">Loading…</p> : null}
      {call ? <CallFields call={call} now={now} /> : null}
    </section>
  );
}

function CallFields({ call, now }: { call: CallView; now: number }) {
  return (
    <>
      <dl className="summary" data-testid="call-detail">
        <Field label="State">
          <span className={stateClass(call.state)} data-testid="call-state">
            {call.state}
          </span>
        </Field>
        <Field label="Function">
          <a href={href(functionPath(call.function, call.namespace))}>{call.function}</a>
        </Field>
        <Field label="Namespace">{call.namespace}</Field>
        <Field label="Attempts">{call.attempts}</Field>
        <Field label="Created">{when(call.createdAt, now)}</Field>
        <Field label="Updated">{when(call.updatedAt, now)}</Field>
        <Field label={call.state === 'running' ? 'Lease ends' : 'Next attempt'}>{when(call.dueAt, now)}</Field>
        <Field label="Finished">{when(call.finishedAt, now)}</Field>
        <Field label="Request">
          <code className="break">
            {call.request.method} {call.request.path || '/'}
            {call.request.query ? `?${call.request.query}` : ''}
          </code>{' '}
          <span className="muted small">({bytes(call.request.bodyBytes)} body)</span>
        </Field>
        <Field label="Result status">{call.result ? statusLine(call.result.status) : NONE}</Field>
        <Field label="Duration">{call.result ? ms(call.result.durationSeconds * 1000) : NONE}</Field>
        <Field label="Result size">{call.result ? bytes(call.result.bodyBytes) : NONE}</Field>
        <Field label="Last error">{call.lastError ? <span className="break">{call.lastError}</span> : NONE}</Field>
        {call.callback ? (
          <>
            <Field label="Callback URL">
              <code className="break">{call.callback.url}</code>
            </Field>
            <Field label="Callback state">
              {call.callback.state} <span className="muted small">({call.callback.attempts} attempt{call.callback.attempts === 1 ? '' : 's'})</span>
            </Field>
            <Field label="Callback error">{call.callback.lastError ?? NONE}</Field>
          </>
        ) : (
          <Field label="Callback">{NONE}</Field>
        )}
      </dl>
      <h2>Result body</h2>
      {call.result ? (
        <pre className="code-block" data-testid="call-result-body" tabIndex={0} aria-label="Result body">
          {call.result.body !== undefined ? prettyMaybe(call.result.body) || '(empty body)' : '(not returned by the gateway)'}
        </pre>
      ) : (
        <p className="muted">{TERMINAL.has(call.state) ? 'The call finished without a result.' : 'No result yet.'}</p>
      )}
    </>
  );
}
