import { useState } from 'react';
import { ConfirmDeleteDialog } from '../components/confirm-delete-dialog.js';
import { ErrorAlert } from '../components/error-alert.js';
import { InvokePanel } from '../components/invoke-panel.js';
import { LogsPanel } from '../components/logs-panel.js';
import { MetricsCharts } from '../components/metrics-charts.js';
import { RevisionsPanel } from '../components/revisions-panel.js';
import { TabPanel, Tabs, type TabItem } from '../components/tabs.js';
import { ApiError, client, metrics, type FunctionStatus } from '../lib/api.js';
import { bytes, dateTime, functionState, NONE, num, relativeTime, stateClass } from '../lib/format.js';
import { href, navigate } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';
import { volumesOf, type VolumeMount } from '../../../src/core/volume-spec.js';

type TriggerRow = Awaited<ReturnType<typeof client.listTriggers>>['triggers'][number];

/**
 * One function (route `/functions/<name>?namespace=ns`): its summary and replicas,
 * Edit and Delete, and tabs to test it, chart its metrics, follow its logs, see its triggers,
 * and manage its revisions and traffic split.
 */
export function FunctionPage({ name, namespace }: { name: string; namespace?: string }) {
  const [gone, setGone] = useState(false);
  // Stops asking once the function is known not to exist (one 404, not one every 2 s).
  const status = usePoll(() => client.getFunction(name, namespace), gone ? 0 : 2000, [name, namespace]);
  const notFound = status.error instanceof ApiError && status.error.code === 'KSS_FUNCTION_NOT_FOUND';
  if (notFound !== gone) setGone(notFound);
  const triggers = usePoll(
    async () => {
      try {
        return (await client.listTriggers({ function: name, ...(namespace ? { namespace } : {}) })).triggers;
      } catch (err) {
        // A gateway without triggers: no tab, no error.
        if (err instanceof ApiError && err.status === 404) return [];
        throw err;
      }
    },
    gone ? 0 : 5000,
    [name, namespace],
  );
  const [tab, setTab] = useState('test');
  const [deleting, setDeleting] = useState(false);

  const fn = notFound ? undefined : status.data;
  const hasTriggers = (fn?.triggers?.length ?? 0) > 0 || (triggers.data?.length ?? 0) > 0;
  const tabs: TabItem[] = [
    { id: 'test', label: 'Test' },
    { id: 'metrics', label: 'Metrics' },
    { id: 'logs', label: 'Logs' },
    // Gateways that keep revisions name the latest one in the status.
    ...(fn?.latestRevision ? [{ id: 'revisions', label: 'Revisions' }] : []),
    ...(hasTriggers ? [{ id: 'triggers', label: 'Triggers' }] : []),
  ];
  const selected = tabs.some((t) => t.id === tab) ? tab : 'test';
  const ns = fn?.namespace ?? namespace;

  const remove = async () => {
    await client.removeFunction(name, namespace);
    navigate('/');
  };

  return (
    <section>
      <p className="breadcrumb">
        <a href={href('/')}>Functions</a> <span aria-hidden="true">/</span>
      </p>
      <div className="page-head">
        <h1>{name}</h1>
        {fn ? (
          <div className="actions">
            <button type="button" className="secondary" onClick={() => navigate(`/deploy?edit=${encodeURIComponent(name)}&namespace=${encodeURIComponent(fn.namespace)}`)}>
              Edit
            </button>
            <button type="button" className="danger" onClick={() => setDeleting(true)}>
              Delete
            </button>
          </div>
        ) : null}
      </div>
      {notFound ? (
        <div role="alert" className="alert alert-error">
          There is no function “{name}”{namespace ? ` in namespace “${namespace}”` : ''}. <a href={href('/')}>Back to the functions</a>.
        </div>
      ) : (
        <ErrorAlert error={status.error} prefix="Cannot read the function" />
      )}
      {status.loading ? <p className="muted">Loading…</p> : null}
      {fn ? (
        <>
          <FunctionSummary fn={fn} />
          <Instances fn={fn} />
          <Tabs idPrefix="fn" label={`${name} tools`} tabs={tabs} selected={selected} onSelect={setTab} />
          <TabPanel idPrefix="fn" id="test" selected={selected}>
            <InvokePanel name={name} namespace={namespace} onInvoked={status.refresh} />
          </TabPanel>
          <TabPanel idPrefix="fn" id="metrics" selected={selected}>
            {selected === 'metrics' ? <FunctionMetrics name={name} namespace={ns} /> : null}
          </TabPanel>
          <TabPanel idPrefix="fn" id="logs" selected={selected}>
            {selected === 'logs' ? <LogsPanel name={name} namespace={namespace} instances={(fn.instances ?? []).map((i) => i.id)} /> : null}
          </TabPanel>
          {fn.latestRevision ? (
            <TabPanel idPrefix="fn" id="revisions" selected={selected}>
              {selected === 'revisions' ? <RevisionsPanel name={name} namespace={ns} onChanged={status.refresh} /> : null}
            </TabPanel>
          ) : null}
          {hasTriggers ? (
            <TabPanel idPrefix="fn" id="triggers" selected={selected}>
              <ErrorAlert error={triggers.error} prefix="Cannot list the triggers" />
              <TriggersTable triggers={triggers.data ?? []} />
            </TabPanel>
          ) : null}
          {deleting ? <ConfirmDeleteDialog name={name} namespace={fn.namespace} onConfirm={remove} onClose={() => setDeleting(false)} /> : null}
        </>
      ) : null}
    </section>
  );
}

function limitsText(r: { memory?: string; cpu?: string } | undefined): string {
  if (!r || (!r.memory && !r.cpu)) return NONE;
  return [r.memory ? `memory ${r.memory}` : '', r.cpu ? `CPU ${r.cpu}` : ''].filter(Boolean).join(', ');
}

/** The function's figures and spec as a description list. */
function FunctionSummary({ fn }: { fn: FunctionStatus }) {
  const state = functionState(fn);
  const labels = Object.entries(fn.labels ?? {});
  const volumes = volumesIn(fn);
  const now = Date.now();
  return (
    <dl className="summary">
      <div>
        <dt>Status</dt>
        <dd>
          <span className={stateClass(state)} data-testid="fn-status">
            {state}
          </span>
        </dd>
      </div>
      <div>
        <dt>Namespace</dt>
        <dd>{fn.namespace}</dd>
      </div>
      <div>
        <dt>Runtime</dt>
        <dd>{fn.runtime ?? NONE}</dd>
      </div>
      <div>
        <dt>Replicas</dt>
        <dd data-testid="fn-replicas">
          {fn.availableReplicas}/{fn.replicas}
        </dd>
      </div>
      <div>
        <dt>Invocations</dt>
        <dd data-testid="fn-invocations">{fn.invocationCount}</dd>
      </div>
      <div>
        <dt>Cold starts</dt>
        <dd data-testid="fn-cold-starts">{fn.coldStarts}</dd>
      </div>
      <div>
        <dt>Image</dt>
        <dd className="break">{fn.image || NONE}</dd>
      </div>
      <div>
        <dt>Handler</dt>
        <dd className="break">{fn.handler ?? fn.envProcess ?? NONE}</dd>
      </div>
      {fn.code ? (
        <div>
          <dt>Code</dt>
          <dd className="break" title={fn.code}>
            <code>{fn.code.slice(0, 19)}…</code>
          </dd>
        </div>
      ) : null}
      <div>
        <dt>Timeout</dt>
        <dd>{fn.timeout ? `${fn.timeout} s` : NONE}</dd>
      </div>
      <div>
        <dt>Limits</dt>
        <dd>{limitsText(fn.limits)}</dd>
      </div>
      {fn.requests?.memory || fn.requests?.cpu ? (
        <div>
          <dt>Requests</dt>
          <dd>{limitsText(fn.requests)}</dd>
        </div>
      ) : null}
      {fn.usage ? (
        <div>
          <dt>Usage</dt>
          <dd>
            {fn.usage.cpu !== undefined ? `${num(fn.usage.cpu, 0)} m CPU` : ''}
            {fn.usage.cpu !== undefined && fn.usage.totalMemoryBytes !== undefined ? ', ' : ''}
            {fn.usage.totalMemoryBytes !== undefined ? bytes(fn.usage.totalMemoryBytes) : ''}
          </dd>
        </div>
      ) : null}
      <div>
        <dt>Labels</dt>
        <dd>
          {labels.length === 0
            ? NONE
            : labels.map(([k, v]) => (
                <span key={k} className="tag">
                  {k}={v}
                </span>
              ))}
        </dd>
      </div>
      {fn.secrets?.length ? (
        <div>
          <dt>Secrets</dt>
          <dd>
            {fn.secrets.map((s) => (
              <span key={s} className="tag">
                {s}
              </span>
            ))}
          </dd>
        </div>
      ) : null}
      {volumes.length ? (
        <div>
          <dt>Volumes</dt>
          <dd>
            {volumes.map((v) => (
              <span key={v.name} className="tag">
                {v.readOnly ? `${v.name} (read-only)` : v.name}
              </span>
            ))}
          </dd>
        </div>
      ) : null}
      <div>
        <dt>Created</dt>
        <dd>
          <time dateTime={fn.createdAt} title={dateTime(fn.createdAt)}>
            {relativeTime(fn.createdAt, now)}
          </time>
        </dd>
      </div>
      <div>
        <dt>Updated</dt>
        <dd>
          <time dateTime={fn.updatedAt} title={dateTime(fn.updatedAt)}>
            {relativeTime(fn.updatedAt, now)}
          </time>
        </dd>
      </div>
    </dl>
  );
}

/** Per-replica table (pid, state, CPU, memory), when the provider reports instances. */
function Instances({ fn }: { fn: FunctionStatus }) {
  const instances = fn.instances ?? [];
  if (instances.length === 0) return null;
  const now = Date.now();
  return (
    <details className="instances" open>
      <summary>
        Instances ({instances.length})
      </summary>
      <div className="table-wrap">
        <table data-testid="instances-table">
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">State</th>
              <th scope="col" className="num">
                PID
              </th>
              <th scope="col" className="num">
                CPU
              </th>
              <th scope="col" className="num">
                Memory
              </th>
              <th scope="col" className="num">
                Restarts
              </th>
              <th scope="col">Started</th>
              <th scope="col">Last exit</th>
            </tr>
          </thead>
          <tbody>
            {instances.map((i) => (
              <tr key={i.id}>
                <td>
                  <code>{i.id}</code>
                </td>
                <td>
                  <span className={stateClass(i.state)}>{i.state}</span>
                </td>
                <td className="num">{i.pid ?? NONE}</td>
                <td className="num">{i.usage?.cpuMillicores !== undefined ? `${num(i.usage.cpuMillicores, 0)} m` : NONE}</td>
                <td className="num">{i.usage ? bytes(i.usage.memoryWorkingSetBytes) : NONE}</td>
                <td className="num">{i.restarts}</td>
                <td>{relativeTime(i.startedAt, now)}</td>
                <td>{i.lastExit ?? NONE}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

function span(seconds: number): string {
  if (seconds === 0) return 'No history yet';
  return seconds < 120 ? `Last ${seconds} s` : `Last ${Math.round(seconds / 60)} min`;
}

/** The "Metrics" tab: the function's history, polled every 5 s. */
function FunctionMetrics({ name, namespace }: { name: string; namespace?: string }) {
  const history = usePoll(() => metrics.history(name, namespace), 5000, [name, namespace]);
  return (
    <>
      <ErrorAlert error={history.error} prefix="Cannot read the metrics" />
      <p className="muted small">
        {history.data ? `${span(history.data.points.length * history.data.intervalSeconds)}, ${history.data.intervalSeconds} s per point; refreshed every 5 s.` : 'Loading…'}
      </p>
      <MetricsCharts history={history.data} />
    </>
  );
}

/** The "Triggers" tab (read-only). */
function TriggersTable({ triggers }: { triggers: TriggerRow[] }) {
  if (triggers.length === 0) return <p className="muted">The function declares triggers, but none is running on this gateway yet.</p>;
  const now = Date.now();
  return (
    <div className="table-wrap">
      <table data-testid="triggers-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Mode</th>
            <th scope="col">Source</th>
            <th scope="col">State</th>
            <th scope="col">Messages</th>
            <th scope="col">Last message</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {triggers.map((t) => (
            <tr key={t.name}>
              <td>{t.name}</td>
              <td>{t.type}</td>
              <td>{t.mode}</td>
              <td className="break">
                <code>{t.source}</code>
                {t.nextRunAt ? <div className="muted small">next {relativeTime(t.nextRunAt, now)}</div> : null}
              </td>
              <td>
                <span className={stateClass(t.state)}>{t.state}</span>
                {t.reason ? <div className="muted small">{t.reason}</div> : null}
              </td>
              <td>
                {t.messages.accepted} accepted, {t.messages.succeeded} ok, {t.messages.failed + t.messages.deadLettered} failed
                {t.messages.skipped ? `, ${t.messages.skipped} skipped` : ''}
              </td>
              <td>{relativeTime(t.lastMessageAt, now)}</td>
              <td className="break">{t.lastError ?? NONE}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The volumes a function names (`kss.volume`), as the gateway accepted them; none if the annotation does not parse. */
function volumesIn(fn: FunctionStatus): VolumeMount[] {
  try {
    return volumesOf(fn);
  } catch {
    return [];
  }
}
