import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, client, errorText, type CanaryView, type RevisionEntry, type RevisionsView, type TrafficTarget } from '../lib/api.js';
import { dateTime, NONE, num, relativeTime } from '../lib/format.js';
import { usePoll } from '../lib/use-poll.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { ErrorAlert } from './error-alert.js';
import './revisions-panel.css';

/** Colours of the split's segments, by position; the labels and the legend carry the same facts in text. */
const SEGMENTS = 6;

/**
 * The function page's "Revisions" tab: the traffic split as a bar (labelled, with a
 * text legend), a running canary's progress, every revision kept (roll back to one,
 * pin or unpin it), and a form to set the split by hand. Polled every 2 s.
 */
export function RevisionsPanel({ name, namespace, onChanged }: { name: string; namespace?: string; onChanged?: () => void }) {
  const [unsupported, setUnsupported] = useState<string>();
  // Stops asking a gateway that keeps no revisions (an older one): one refusal, not one every 2 s.
  const poll = usePoll(() => client.revisions(name, namespace), unsupported ? 0 : 2000, [name, namespace]);
  const refused = poll.error instanceof ApiError && !poll.data && (poll.error.code === 'KSS_ROUTE_NOT_FOUND' || poll.error.code === 'KSS_BAD_REQUEST') ? errorText(poll.error) : undefined;
  if (refused !== unsupported) setUnsupported(refused);
  // The answer of the last change, shown at once (the next poll replaces it).
  const [changed, setChanged] = useState<RevisionsView>();
  const [rollbackTo, setRollbackTo] = useState<RevisionEntry>();
  const [pinning, setPinning] = useState<string>();
  const [actionError, setActionError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  useEffect(() => setChanged(undefined), [poll.data]);

  const view = changed ?? poll.data;
  if (unsupported && !view) {
    return <p className="muted">This gateway keeps no revisions: {unsupported}</p>;
  }

  const applied = (v: RevisionsView, message: string) => {
    setChanged(v);
    setNotice(message);
    setActionError(undefined);
    poll.refresh();
    onChanged?.();
  };

  const pin = async (r: RevisionEntry) => {
    setPinning(r.revision);
    setActionError(undefined);
    try {
      const entry = await client.pinRevision(name, r.revision, !r.pinned, namespace);
      if (view) setChanged({ ...view, revisions: view.revisions.map((x) => (x.revision === entry.revision ? entry : x)) });
      setNotice(entry.pinned ? `${entry.revision} is pinned: it is kept however many deploys follow.` : `${entry.revision} is unpinned: it goes once 10 newer revisions exist and it has no traffic.`);
      poll.refresh();
    } catch (err) {
      setActionError(err);
    } finally {
      setPinning(undefined);
    }
  };

  return (
    <div className="revisions">
      <ErrorAlert error={poll.error} prefix="Cannot read the revisions" />
      <ErrorAlert error={actionError} prefix="That did not work" />
      {notice ? (
        <p role="status" className="alert alert-info" data-testid="revisions-notice">
          {notice}
        </p>
      ) : null}
      {!view ? (
        poll.loading ? <p className="muted">Loading…</p> : null
      ) : (
        <>
          <h3 className="revisions-heading">Traffic</h3>
          <SplitBar traffic={view.traffic} />
          {view.canary ? <CanaryProgress canary={view.canary} name={name} /> : null}
          <h3 className="revisions-heading">Revisions</h3>
          <RevisionsTable view={view} pinning={pinning} onRollback={setRollbackTo} onPin={(r) => void pin(r)} />
          <p className="muted small">
            Call one revision directly at <code>/function/{name}@r3</code> or with the header <code>X-Kss-Revision: r3</code> (any revision in the split, also at 0%);
            every reply names the revision that served it in <code>X-Kss-Revision</code>. Pinned revisions are never removed; otherwise the last 10 are kept.
          </p>
          <SplitForm key={splitKey(view.traffic)} view={view} name={name} namespace={namespace} onSaved={(v) => applied(v, `Traffic set: ${splitText(v.traffic)}.`)} />
        </>
      )}
      {rollbackTo && view ? (
        <ConfirmDialog
          title={`Roll back ${name} to ${rollbackTo.revision}?`}
          confirmLabel={`Roll back to ${rollbackTo.revision}`}
          testId="confirm-rollback"
          errorPrefix="Rollback failed"
          onClose={() => setRollbackTo(undefined)}
          onConfirm={async () => {
            const v = await client.rollback(name, rollbackTo.revision, namespace);
            setRollbackTo(undefined);
            applied(v, `Rolled back: ${splitText(v.traffic)}.`);
          }}
        >
          <p>
            All traffic goes to <strong>{rollbackTo.revision}</strong> (made {relativeTime(rollbackTo.createdAt)} by {rollbackTo.createdBy || 'unknown'}). Now:{' '}
            {splitText(view.traffic)}.
          </p>
          {view.canary ? (
            <p>
              The canary of <strong>{view.canary.revision}</strong> stops.
            </p>
          ) : null}
          <p className="muted small">No revision is removed; you can set the split again at any time.</p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}

/** `r3 90%, r4 10%`. */
function splitText(traffic: readonly TrafficTarget[]): string {
  return traffic.map((t) => `${t.revision} ${t.percent}%`).join(', ');
}

/** Identity of a split: the form starts over from the gateway's split whenever it changes. */
function splitKey(traffic: readonly TrafficTarget[]): string {
  return traffic.map((t) => `${t.revision}=${t.percent}`).join(',');
}

/** The split as one horizontal bar: a segment per revision with a share, labelled in text; a legend lists every revision in the split. */
function SplitBar({ traffic }: { traffic: TrafficTarget[] }) {
  const shown = traffic.filter((t) => t.percent > 0);
  return (
    <figure className="split" data-testid="split">
      <div className="split-bar" role="img" aria-label={`Traffic split: ${splitText(traffic)}`} data-testid="split-bar">
        {shown.map((t, i) => (
          <div key={t.revision} className={`split-seg split-seg-${i % SEGMENTS}${t.percent < 12 ? ' split-seg-narrow' : ''}`} style={{ flexBasis: `${t.percent}%` }} title={`${t.revision}: ${t.percent}%`} data-revision={t.revision} data-percent={t.percent}>
            <span className="split-seg-label">
              {t.revision} {t.percent}%
            </span>
          </div>
        ))}
      </div>
      <figcaption>
        <ul className="split-legend" data-testid="split-legend">
          {traffic.map((t) => {
            const i = shown.findIndex((s) => s.revision === t.revision);
            return (
              <li key={t.revision}>
                <span className={`split-swatch ${i >= 0 ? `split-seg-${i % SEGMENTS}` : 'split-swatch-empty'}`} aria-hidden="true" />
                <span>
                  <strong>{t.revision}</strong>: {t.percent}%{t.percent === 0 ? ' (only requests that name it)' : ''}
                </span>
              </li>
            );
          })}
        </ul>
      </figcaption>
    </figure>
  );
}

/** A running canary: its share as a progress bar, the rule of the next step, and when that step comes. */
function CanaryProgress({ canary, name }: { canary: CanaryView; name: string }) {
  const now = Date.now();
  const next = Math.min(canary.stepPercent, 100 - canary.percent);
  const due = Date.parse(canary.nextStepAt);
  const limits = [`its error rate stays at or below ${num(canary.maxErrorRate * 100, 2)}%`, ...(canary.maxP99Seconds !== null ? [`its p99 at or below ${num(canary.maxP99Seconds * 1000, 0)} ms`] : [])].join(' and ');
  return (
    <section className="canary" aria-labelledby="canary-title" data-testid="canary">
      <h3 id="canary-title">Canary: {canary.revision}</h3>
      <div className="canary-progress">
        <label htmlFor="canary-progress-bar">
          {canary.revision} has {canary.percent}% of the traffic, {canary.from} the rest
        </label>
        <progress id="canary-progress-bar" max={100} value={canary.percent}>
          {canary.percent}%
        </progress>
      </div>
      <p>
        Next step{' '}
        <time dateTime={canary.nextStepAt} title={dateTime(canary.nextStepAt)}>
          {due > now ? relativeTime(canary.nextStepAt, now) : 'now'}
        </time>
        : {canary.percent + next >= 100 ? 'to 100%' : `+${next}%`} if {limits} over the step; otherwise all traffic goes back to {canary.from}. Steps of {canary.stepPercent}% every{' '}
        {canary.intervalSeconds} s. Each decision is in the function’s logs (<code>kss logs {name}</code>).
      </p>
    </section>
  );
}

function RevisionsTable({ view, pinning, onRollback, onPin }: { view: RevisionsView; pinning?: string; onRollback: (r: RevisionEntry) => void; onPin: (r: RevisionEntry) => void }) {
  const now = Date.now();
  const inSplit = new Map(view.traffic.map((t) => [t.revision, t.percent]));
  return (
    <div className="table-wrap">
      <table data-testid="revisions-table">
        <caption className="visually-hidden">Revisions of {view.function}, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Revision</th>
            <th scope="col">Created</th>
            <th scope="col">By</th>
            <th scope="col">Code</th>
            <th scope="col" className="num">
              Traffic
            </th>
            <th scope="col" className="num">
              Replicas
            </th>
            <th scope="col" className="num">
              Invocations
            </th>
            <th scope="col">Pinned</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {view.revisions.map((r) => {
            const share = inSplit.get(r.revision);
            return (
              <tr key={r.revision} data-testid={`revision-row-${r.revision}`}>
                <th scope="row">
                  <code>{r.revision}</code>
                  {r.revision === view.latestRevision ? <span className="badge revisions-latest">latest</span> : null}
                </th>
                <td>
                  <time dateTime={r.createdAt} title={dateTime(r.createdAt)}>
                    {relativeTime(r.createdAt, now)}
                  </time>
                </td>
                <td>{r.createdBy || NONE}</td>
                <td>{r.code ? <code title={r.code}>{r.code.replace(/^sha256:/, '').slice(0, 12)}</code> : NONE}</td>
                <td className="num" data-testid={`revision-traffic-${r.revision}`}>
                  {share === undefined ? NONE : `${share}%`}
                </td>
                <td className="num">
                  {r.availableReplicas}/{r.replicas}
                </td>
                <td className="num">{r.invocationCount}</td>
                <td>{r.pinned ? 'Pinned' : NONE}</td>
                <td>
                  <div className="revisions-actions">
                    <button type="button" className="secondary" disabled={share === 100} onClick={() => onRollback(r)} aria-label={`Roll back to this: ${r.revision}`} title={share === 100 ? `${r.revision} already has all the traffic` : undefined}>
                      Roll back to this
                    </button>
                    <button type="button" className="secondary" disabled={pinning !== undefined} onClick={() => onPin(r)} aria-label={`${r.pinned ? 'Unpin' : 'Pin'} ${r.revision}`}>
                      {pinning === r.revision ? '…' : r.pinned ? 'Unpin' : 'Pin'}
                    </button>
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

interface WeightRow {
  revision: string;
  value: string;
}

/** The split by hand: a number per revision in it (add or remove revisions), the sum, and Save only once it is 100. */
function SplitForm({ view, name, namespace, onSaved }: { view: RevisionsView; name: string; namespace?: string; onSaved: (v: RevisionsView) => void }) {
  const [rows, setRows] = useState<WeightRow[]>(() => view.traffic.map((t) => ({ revision: t.revision, value: String(t.percent) })));
  const [adding, setAdding] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const others = view.revisions.filter((r) => !rows.some((w) => w.revision === r.revision));
  const whole = (v: string) => /^\d{1,3}$/.test(v.trim()) && Number(v) <= 100;
  const invalid = rows.filter((w) => !whole(w.value));
  const sum = rows.reduce((s, w) => s + (whole(w.value) ? Number(w.value) : 0), 0);
  const ready = rows.length > 0 && invalid.length === 0 && sum === 100;
  const sumText =
    invalid.length > 0
      ? `${invalid.map((w) => w.revision).join(', ')}: whole numbers from 0 to 100 only`
      : sum === 100
        ? 'Sum: 100%'
        : `Sum: ${sum}% — ${sum < 100 ? `${100 - sum}% left to give` : `${sum - 100}% too many`}; it must be 100%`;

  const add = () => {
    const rev = adding || others[0]?.revision;
    if (!rev) return;
    setRows((rs) => [...rs, { revision: rev, value: '0' }]);
    setAdding('');
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!ready || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const v = await client.setTraffic(name, Object.fromEntries(rows.map((w) => [w.revision, Number(w.value)])), namespace);
      onSaved(v);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form split-form" onSubmit={(e) => void save(e)} aria-labelledby="split-form-title" data-testid="split-form">
      <h3 id="split-form-title" className="revisions-heading">
        Set the split
      </h3>
      {view.canary ? <p className="help">Setting the split by hand stops the canary of {view.canary.revision}.</p> : null}
      <div className="split-rows">
        {rows.map((w, i) => (
          <div key={w.revision} className="split-row">
            <label htmlFor={`split-weight-${w.revision}`}>{w.revision}</label>
            <input
              id={`split-weight-${w.revision}`}
              type="number"
              inputMode="numeric"
              min={0}
              max={100}
              step={1}
              value={w.value}
              aria-invalid={!whole(w.value) || undefined}
              aria-describedby="split-sum"
              onChange={(e) => setRows((rs) => rs.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))}
            />
            <span aria-hidden="true">%</span>
            <button type="button" className="secondary split-remove" aria-label={`Remove ${w.revision} from the split`} title={`Remove ${w.revision}`} onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))}>
              ×
            </button>
          </div>
        ))}
      </div>
      {others.length ? (
        <div className="split-add">
          <label htmlFor="split-add-revision">Add a revision</label>
          <select id="split-add-revision" value={adding || others[0]!.revision} onChange={(e) => setAdding(e.target.value)}>
            {others.map((r) => (
              <option key={r.revision} value={r.revision}>
                {r.revision}
              </option>
            ))}
          </select>
          <button type="button" className="secondary" onClick={add}>
            Add
          </button>
        </div>
      ) : null}
      <div className="form-actions">
        <output id="split-sum" aria-live="polite" data-testid="split-sum" className={ready ? 'status status-ok' : 'status status-warn'}>
          {sumText}
        </output>
        <button type="submit" disabled={!ready || busy} data-testid="split-save">
          {busy ? 'Saving…' : 'Set split'}
        </button>
      </div>
      {error ? (
        <p role="alert" className="alert alert-error">
          Cannot set the split: {errorText(error)}
        </p>
      ) : null}
    </form>
  );
}
