/**
 * The deploy wizard: name, template, code, environment, secrets, limits, scaling and
 * triggers on one page, then the same steps `kss deploy` takes (src/cli/commands/deploy.ts):
 * pack the files into a tar.gz, upload it (`POST /api/v1/code`), build on the gateway
 * (cached by content), deploy (PUT, or POST when new), and wait for a ready replica.
 *
 * Fields are checked with the gateway's own rules (src/core), so most mistakes are
 * shown inline before anything is sent; whatever the gateway still refuses is shown
 * as it answered, and the form is left as it was.
 */
import { useEffect, useMemo, useRef, useState, type FormEvent, type JSX } from 'react';
import { ApiError, client, errorText, templates as templatesApi, type FunctionStatus, type Template } from '../lib/api';
import { functionPath, navigate } from '../lib/router';
import { packFiles } from '../lib/tar-gzip';
import { CodeEditor, languageForPath } from '../components/code-editor';
import { MIN_MEMORY_BYTES, NAME_MAX_LENGTH, NAME_PATTERN } from '../../../src/core/function-spec.js';
import { cpuMillis, memoryBytes } from '../../../src/core/quantity.js';
import { DEFAULT_SCALE_MAX, DEFAULT_SCALE_MIN, SCALE_MAX_LABEL, SCALE_MIN_LABEL, SCALE_ZERO_LABEL } from '../../../src/core/scale-labels.js';
import { parseTriggers } from '../../../src/core/trigger-spec.js';
import './deploy-page.css';

/** The namespace the gateway uses when none is given (src/core/function-spec.ts DEFAULT_NAMESPACE). */
const DEFAULT_NAMESPACE_VALUE = 'openfaas-fn';
const STEPS = ['Packaging', 'Uploading', 'Building', 'Deploying', 'Starting'] as const;
type StepName = (typeof STEPS)[number];
type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';
interface StepState {
  status: StepStatus;
  ms?: number;
  detail?: string;
}
type Steps = Record<StepName, StepState>;

interface FileDraft {
  path: string;
  content: string;
  mode: number;
}
interface EnvRow {
  id: number;
  name: string;
  value: string;
}
type Failure = { kind: 'build' | 'error'; text: string; code?: string };

/** What the status carries that is not part of the spec (dropped before a re-deploy). */
const STATUS_ONLY = ['name', 'invocationCount', 'replicas', 'availableReplicas', 'createdAt', 'updatedAt', 'usage', 'coldStarts', 'cost', 'instances'];
/** Spec fields the form owns (set from the form, never passed through). */
const FORM_OWNED = ['service', 'namespace', 'runtime', 'envVars', 'secrets', 'limits', 'labels', 'triggers'];
/** Spec fields that belong to the code: kept only with "Keep the deployed code". */
const CODE_OWNED = ['code', 'handler', 'envProcess'];
const SCALE_LABELS = [SCALE_MIN_LABEL, SCALE_MAX_LABEL, SCALE_ZERO_LABEL];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Used when `GET /api/v1/templates` cannot be read, so a function can still be written and deployed. */
const FALLBACK_TEMPLATES: Template[] = [
  {
    name: 'node',
    runtime: 'node',
    description: 'Node.js handler (built-in copy: the gateway’s templates could not be loaded)',
    mainFile: 'handler.js',
    spec: {},
    files: [
      { path: 'handler.js', mode: 0o644, content: "/** {{name}}: called with a web-standard Request; return a Response, a string or an object (sent as JSON). */\nexport default async (req) => {\n  const body = await req.text();\n  return `Hello, ${body || 'world'}!\\n`;\n};\n" },
      { path: 'package.json', mode: 0o644, content: '{\n  "name": "{{name}}",\n  "version": "1.0.0",\n  "private": true,\n  "type": "module",\n  "main": "handler.js"\n}\n' },
    ],
  },
];

function pendingSteps(): Steps {
  return Object.fromEntries(STEPS.map((s) => [s, { status: 'pending' }])) as Steps;
}

function nameError(name: string, what: 'name' | 'namespace'): string | undefined {
  if (name === '') return what === 'name' ? 'A function name is required.' : 'A namespace is required.';
  if (name.length > NAME_MAX_LENGTH) return `At most ${NAME_MAX_LENGTH} characters (this is ${name.length}).`;
  if (!NAME_PATTERN.test(name)) return "Use lower-case letters, digits and '-', starting and ending with a letter or digit.";
  return undefined;
}

function filePathError(path: string, existing: readonly FileDraft[]): string | undefined {
  const p = path.trim();
  if (p === '') return 'Type a file name, e.g. lib/util.js.';
  if (p.startsWith('/') || p.includes('\\') || p.split('/').some((s) => s === '..' || s === '')) return "Use a relative path with '/' between folders, without '..'.";
  if (existing.some((f) => f.path === p)) return `${p} exists already.`;
  if (existing.some((f) => f.path.startsWith(`${p}/`) || p.startsWith(`${f.path}/`))) return `${p} clashes with a file or folder of the same name.`;
  return undefined;
}

function memoryError(text: string): string | undefined {
  if (text.trim() === '') return undefined;
  const bytes = memoryBytes(text.trim());
  if (bytes === undefined) return 'Not a quantity such as 128Mi or 1Gi.';
  if (bytes < MIN_MEMORY_BYTES) return `That is ${bytes} bytes; at least 4Mi is needed (did you mean ${text.trim()}Mi?).`;
  return undefined;
}

function cpuError(text: string): string | undefined {
  if (text.trim() === '') return undefined;
  const m = cpuMillis(text.trim());
  if (m === undefined) return 'Not a quantity such as 500m or 2.';
  if (m <= 0) return 'Must be more than 0, e.g. 100m.';
  return undefined;
}

function scaleErrors(min: string, max: string): { min?: string; max?: string } {
  const out: { min?: string; max?: string } = {};
  const whole = /^\d{1,4}$/;
  if (min !== '' && !whole.test(min)) out.min = 'A whole number from 0 to 9999.';
  if (max !== '' && !whole.test(max)) out.max = 'A whole number from 1 to 9999.';
  else if (max !== '' && Number(max) < 1) out.max = 'At least 1.';
  if (!out.min && !out.max) {
    const lo = min === '' ? DEFAULT_SCALE_MIN : Number(min);
    const hi = max === '' ? DEFAULT_SCALE_MAX : Number(max);
    if (lo > hi) out.min = `More than the maximum (${hi}${max === '' ? ' by default' : ''}).`;
  }
  return out;
}

/** The triggers textarea as the gateway would read it: undefined when empty, else the array or an error. */
function readTriggers(text: string): { value?: unknown[]; error?: string } {
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { error: `Not valid JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(parsed)) return { error: 'Expected a JSON array, e.g. [{"type":"cron","schedule":"*/5 * * * *"}].' };
  try {
    parseTriggers(parsed);
  } catch (err) {
    return { error: (err as Error).message };
  }
  return parsed.length ? { value: parsed } : {};
}

/**
 * `client.deploy` the other way round: a new function is created (POST) and only
 * updated when the name turns out to be taken, an edit is updated (PUT) and created
 * when it was removed meanwhile — so the usual case needs one request and logs no 404.
 */
async function createOrUpdate(spec: Record<string, unknown> & { service: string; namespace: string }, isNew: boolean): Promise<{ status: FunctionStatus; created: boolean }> {
  if (!isNew) return client.deploy(spec);
  try {
    return { status: await client.createFunction(spec), created: true };
  } catch (err) {
    if (err instanceof ApiError && err.code === 'KSS_FUNCTION_EXISTS') return { status: await client.updateFunction(spec), created: false };
    throw err;
  }
}

const READY_TIMEOUT_MS = 60_000;

function progressText(s: FunctionStatus): string {
  const starting = (s.instances ?? []).filter((i) => i.state === 'starting' || i.state === 'crashed').length;
  return `${s.availableReplicas}/${Math.max(1, s.replicas)} replicas ready${starting ? `, ${starting} starting` : ''}`;
}

/**
 * `client.waitReady`, then — after an update — until the new replicas have taken over:
 * the previous version keeps serving (and counts as ready) while its successors start,
 * so "ready" alone would be reported before the new code or settings are live.
 */
async function waitRolledOver(name: string, namespace: string, timeoutMs: number, onProgress: (s: FunctionStatus) => void): Promise<FunctionStatus> {
  const deadline = Date.now() + timeoutMs;
  let status = await client.waitReady(name, { namespace, timeoutMs, onProgress });
  const pending = (s: FunctionStatus) => (s.instances ?? []).some((i) => i.state === 'starting' || i.state === 'crashed');
  let delay = 100;
  while (pending(status) || status.availableReplicas < Math.max(1, status.replicas)) {
    if (Date.now() > deadline) {
      const last = status.instances?.find((i) => i.lastExit)?.lastExit;
      throw new ApiError(504, 'KSS_NO_REPLICAS', `the new replicas of "${name}" are not ready after ${Math.round(timeoutMs / 1000)}s${last ? ` (a replica ${last})` : ''}; the previous version keeps serving; see the function's logs`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
    status = await client.getFunction(name, namespace);
    onProgress(status);
  }
  return status;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.max(0, Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function templateFiles(t: Template): FileDraft[] {
  const files = t.files.map((f) => ({ path: f.path, content: f.content, mode: f.mode ?? 0o644 }));
  // The main file first.
  return [...files.filter((f) => f.path === t.mainFile), ...files.filter((f) => f.path !== t.mainFile)];
}

function pickTemplate(list: Template[], runtime?: string): Template | undefined {
  return (runtime ? list.find((t) => t.runtime === runtime) : undefined) ?? list.find((t) => t.name === 'node') ?? list[0];
}

/**
 * The deploy wizard page; with `edit`, updates that function (its settings prefilled,
 * its deployed code kept unless the user chooses to replace it).
 */
export function DeployPage(props: { edit?: { name: string; namespace: string } }): JSX.Element {
  const edit = props.edit;
  const nextId = useRef(1);
  const mounted = useRef(true);
  const navTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const [name, setName] = useState(edit?.name ?? '');
  const [nameTouched, setNameTouched] = useState(false);
  const [namespace, setNamespace] = useState(edit?.namespace || DEFAULT_NAMESPACE_VALUE);

  const [templateList, setTemplateList] = useState<Template[] | undefined>(undefined);
  const [templateWarning, setTemplateWarning] = useState<string | undefined>(undefined);
  const [templateName, setTemplateName] = useState('');
  /** Files per template: switching templates and back keeps the edits. */
  const [drafts, setDrafts] = useState<Record<string, FileDraft[]>>({});
  const [selectedPath, setSelectedPath] = useState('');
  const [newFile, setNewFile] = useState('');
  const [newFileError, setNewFileError] = useState<string | undefined>(undefined);

  const [env, setEnv] = useState<EnvRow[]>([]);
  const [secretNames, setSecretNames] = useState<string[] | undefined>(undefined);
  const [secretsError, setSecretsError] = useState<string | undefined>(undefined);
  const [chosenSecrets, setChosenSecrets] = useState<string[]>([]);

  const [memory, setMemory] = useState('');
  const [cpu, setCpu] = useState('');
  const [minScale, setMinScale] = useState('');
  const [maxScale, setMaxScale] = useState('');
  const [scaleZero, setScaleZero] = useState(false);
  const [scaleZeroSet, setScaleZeroSet] = useState(false);
  const [triggersText, setTriggersText] = useState('');

  const [existing, setExisting] = useState<FunctionStatus | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | undefined>(undefined);
  const [keepCode, setKeepCode] = useState(true);

  const [steps, setSteps] = useState<Steps>(pendingSteps);
  const [running, setRunning] = useState(false);
  const [submitted, setSubmitted] = useState(false);
  const [failure, setFailure] = useState<Failure | undefined>(undefined);
  const [buildLog, setBuildLog] = useState<string | undefined>(undefined);
  const [ready, setReady] = useState<{ name: string; namespace: string; available: number; replicas: number } | undefined>(undefined);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      clearTimeout(navTimer.current);
    };
  }, []);

  // Templates, and in edit mode the function, load together; the template is picked by the function's runtime.
  useEffect(() => {
    let live = true;
    const loadTemplates = templatesApi.list().then(
      (r) => (r.items.length ? r.items : (setTemplateWarning('The gateway has no templates; using a built-in Node.js one.'), FALLBACK_TEMPLATES)),
      (err: unknown) => {
        setTemplateWarning(`Templates could not be loaded (${errorText(err)}); using a built-in Node.js one.`);
        return FALLBACK_TEMPLATES;
      },
    );
    const loadFunction = edit ? client.getFunction(edit.name, edit.namespace) : Promise.resolve(undefined);
    void Promise.all([loadTemplates, loadFunction.catch((err: unknown) => err as Error)]).then(([list, fn]) => {
      if (!live) return;
      setTemplateList(list);
      if (fn instanceof Error) {
        setLoadError(errorText(fn));
        return;
      }
      const chosen = pickTemplate(list, fn?.runtime);
      if (chosen) {
        setTemplateName(chosen.name);
        setDrafts({ [chosen.name]: templateFiles(chosen) });
        setSelectedPath(chosen.mainFile);
      }
      if (fn) prefill(fn);
    });
    return () => {
      live = false;
    };
    // Loads once per function (prefill and the template pick read only what this effect loads).
  }, [edit?.name, edit?.namespace]);

  function prefill(fn: FunctionStatus): void {
    setExisting(fn);
    setName(fn.name);
    setNamespace(fn.namespace);
    setEnv(Object.entries(fn.envVars ?? {}).map(([k, v]) => ({ id: nextId.current++, name: k, value: v })));
    setChosenSecrets(fn.secrets ?? []);
    setMemory(fn.limits?.memory ?? '');
    setCpu(fn.limits?.cpu ?? '');
    const labels = fn.labels ?? {};
    setMinScale(labels[SCALE_MIN_LABEL] ?? '');
    setMaxScale(labels[SCALE_MAX_LABEL] ?? '');
    setScaleZero(labels[SCALE_ZERO_LABEL] === 'true');
    setScaleZeroSet(labels[SCALE_ZERO_LABEL] !== undefined);
    setTriggersText(fn.triggers?.length ? JSON.stringify(fn.triggers, null, 2) : '');
  }

  // Secrets of the namespace (names only), re-read when the namespace changes.
  const namespaceError = nameError(namespace, 'namespace');
  useEffect(() => {
    if (namespaceError) return;
    let live = true;
    const timer = setTimeout(() => {
      setSecretNames(undefined);
      setSecretsError(undefined);
      client.listSecrets(namespace).then(
        (items) => live && setSecretNames(items.map((s) => s.name).sort()),
        (err: unknown) => live && setSecretsError(errorText(err)),
      );
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [namespace, namespaceError]);

  const template = templateList?.find((t) => t.name === templateName);
  const files = drafts[templateName] ?? [];
  const selected = files.find((f) => f.path === selectedPath) ?? files[0];
  const codeLocked = existing !== undefined && keepCode;

  const triggers = useMemo(() => readTriggers(triggersText), [triggersText]);
  const scaleErr = scaleErrors(minScale.trim(), maxScale.trim());
  const envErrors = useMemo(() => {
    const out = new Map<number, string>();
    const seen = new Set<string>();
    for (const row of env) {
      const n = row.name.trim();
      if (n === '' && row.value === '') continue;
      if (n === '') out.set(row.id, 'A name is required.');
      else if (!ENV_NAME.test(n)) out.set(row.id, 'Letters, digits and _, not starting with a digit.');
      else if (seen.has(n)) out.set(row.id, `${n} is set twice.`);
      seen.add(n);
    }
    return out;
  }, [env]);
  const errors = {
    name: edit ? undefined : nameError(name, 'name'),
    namespace: edit ? undefined : namespaceError,
    template: !codeLocked && !template ? 'Choose a template.' : undefined,
    files: !codeLocked && files.length === 0 ? 'Add at least one file.' : undefined,
    memory: memoryError(memory),
    cpu: cpuError(cpu),
    min: scaleErr.min,
    max: scaleErr.max,
    triggers: triggers.error,
  };

  function updateFiles(change: (files: FileDraft[]) => FileDraft[]): void {
    setDrafts((d) => ({ ...d, [templateName]: change(d[templateName] ?? []) }));
  }

  function chooseTemplate(next: string): void {
    const t = templateList?.find((x) => x.name === next);
    if (!t) return;
    setTemplateName(next);
    setDrafts((d) => (d[next] ? d : { ...d, [next]: templateFiles(t) }));
    setSelectedPath(t.mainFile);
    setNewFileError(undefined);
  }

  function resetTemplate(): void {
    if (!template) return;
    setDrafts((d) => ({ ...d, [template.name]: templateFiles(template) }));
    setSelectedPath(template.mainFile);
  }

  function addFile(): void {
    const path = newFile.trim().replace(/^\.\/+/, '');
    const error = filePathError(path, files);
    setNewFileError(error);
    if (error) return;
    updateFiles((fs) => [...fs, { path, content: '', mode: path.endsWith('.sh') ? 0o755 : 0o644 }]);
    setSelectedPath(path);
    setNewFile('');
  }

  function removeFile(path: string): void {
    updateFiles((fs) => fs.filter((f) => f.path !== path));
    if (selectedPath === path) setSelectedPath(template?.mainFile ?? '');
  }

  /** The spec to send, without `code` when new code is uploaded (the upload sets it). */
  function buildSpec(): Record<string, unknown> & { service: string; namespace: string } {
    const base: Record<string, unknown> = {};
    if (existing) {
      for (const [k, v] of Object.entries(existing)) {
        if (STATUS_ONLY.includes(k) || FORM_OWNED.includes(k)) continue;
        if (!keepCode && CODE_OWNED.includes(k)) continue;
        base[k] = v;
      }
      // The default runtime image follows the runtime; the gateway fills it in again.
      if (typeof base.image === 'string' && /\/runtime-[a-z]+:[^/]*$/.test(base.image)) delete base.image;
    }
    const spec: Record<string, unknown> & { service: string; namespace: string } = {
      ...base,
      ...(codeLocked ? {} : (template?.spec ?? {})),
      service: name,
      namespace,
      runtime: codeLocked ? existing!.runtime : template!.runtime,
    };
    const envVars = Object.fromEntries(env.filter((r) => r.name.trim() !== '').map((r) => [r.name.trim(), r.value]));
    if (Object.keys(envVars).length) spec.envVars = envVars;
    if (chosenSecrets.length) spec.secrets = [...chosenSecrets];
    const limits: Record<string, string> = {};
    if (memory.trim()) limits.memory = memory.trim();
    if (cpu.trim()) limits.cpu = cpu.trim();
    if (Object.keys(limits).length) spec.limits = limits;
    const labels: Record<string, string> = Object.fromEntries(Object.entries(existing?.labels ?? {}).filter(([k]) => !SCALE_LABELS.includes(k)));
    if (minScale.trim()) labels[SCALE_MIN_LABEL] = String(Number(minScale.trim()));
    if (maxScale.trim()) labels[SCALE_MAX_LABEL] = String(Number(maxScale.trim()));
    if (scaleZeroSet) labels[SCALE_ZERO_LABEL] = scaleZero ? 'true' : 'false';
    if (Object.keys(labels).length) spec.labels = labels;
    if (triggers.value) spec.triggers = triggers.value;
    return spec;
  }

  async function deploy(event: FormEvent): Promise<void> {
    event.preventDefault();
    if (running) return;
    setSubmitted(true);
    setNameTouched(true);
    const firstInvalid = (Object.keys(errors) as (keyof typeof errors)[]).find((k) => errors[k]);
    if (firstInvalid || envErrors.size) {
      const id = firstInvalid ? `deploy-${firstInvalid === 'files' ? 'new-file' : firstInvalid}` : `deploy-env-name-${[...envErrors.keys()][0]}`;
      document.getElementById(id)?.focus();
      return;
    }
    clearTimeout(navTimer.current);
    setRunning(true);
    setFailure(undefined);
    setBuildLog(undefined);
    setReady(undefined);
    let current = pendingSteps();
    setSteps(current);
    const set = (step: StepName, state: StepState) => {
      current = { ...current, [step]: state };
      if (mounted.current) setSteps(current);
    };
    const run = async <T,>(step: StepName, work: (detail: (text: string) => void) => Promise<{ result: T; detail?: string }>): Promise<T> => {
      const started = performance.now();
      set(step, { status: 'running' });
      try {
        const { result, detail } = await work((text) => set(step, { status: 'running', detail: text }));
        set(step, { status: 'done', ms: performance.now() - started, ...(detail ? { detail } : {}) });
        return result;
      } catch (err) {
        set(step, { status: 'failed', ms: performance.now() - started });
        throw err;
      }
    };

    const spec = buildSpec();
    try {
      if (codeLocked) {
        const detail = existing!.code ? `keeping the deployed code (${existing!.code.slice(0, 19)}…)` : 'keeping the deployed image';
        set('Packaging', { status: 'skipped', detail });
        set('Uploading', { status: 'skipped', detail });
      } else {
        const archive = await run('Packaging', async () => {
          // Templates name the function as {{name}} (as `kss new` fills in). A fixed mtime makes
          // the archive, and so its digest, the same for the same files: an unchanged re-deploy reuses its build.
          const bytes = await packFiles(files.map((f) => ({ path: f.path, mode: f.mode, content: f.content.replaceAll('{{name}}', name) })), { mtime: 0 });
          return { result: bytes, detail: `${files.length} file${files.length === 1 ? '' : 's'}, ${formatBytes(bytes.length)}` };
        });
        const uploaded = await run('Uploading', async () => {
          const r = await client.uploadCode(archive);
          return { result: r, detail: r.digest.slice(0, 19) };
        });
        spec.code = uploaded.digest;
      }
      await run('Building', async () => {
        const r = await client.build(spec);
        if (mounted.current && r.log.trim()) setBuildLog(r.log);
        return { result: r, detail: r.cached ? 'unchanged, reused' : `built (${String(spec.runtime)})` };
      });
      const deployed = await run('Deploying', async () => {
        const r = await createOrUpdate(spec, existing === undefined);
        return { result: r.status, detail: r.created ? 'created' : 'updated' };
      });
      const status = await run('Starting', async (detail) => {
        const s = await waitRolledOver(name, deployed.namespace, READY_TIMEOUT_MS, (p) => detail(progressText(p)));
        return { result: s, detail: `${s.availableReplicas}/${Math.max(1, s.replicas)} replicas` };
      });
      if (!mounted.current) return;
      setReady({ name, namespace: status.namespace, available: status.availableReplicas, replicas: Math.max(1, status.replicas) });
      navTimer.current = setTimeout(() => {
        if (mounted.current) navigate(functionPath(name, status.namespace));
      }, 1000);
    } catch (err) {
      if (!mounted.current) return;
      // The compiler's or the handler check's output: shown as it is, line for line.
      if (err instanceof ApiError && (err.code === 'KSS_BUILD_FAILED' || (current.Building.status === 'failed' && err.code === 'KSS_INVALID_HANDLER'))) {
        setFailure({ kind: 'build', text: err.message, code: err.code });
      } else setFailure({ kind: 'error', text: errorText(err) });
    } finally {
      if (mounted.current) setRunning(false);
    }
  }

  const show = (field: keyof typeof errors, always = true) => (always || submitted ? errors[field] : undefined);
  const nameShown = nameTouched || submitted ? errors.name : undefined;
  const describedBy = (...ids: (string | false | undefined)[]) => ids.filter(Boolean).join(' ') || undefined;
  const allSecrets = [...new Set([...(secretNames ?? []), ...chosenSecrets])].sort();
  const nsFlag = namespace && namespace !== DEFAULT_NAMESPACE_VALUE ? ` --namespace ${namespace}` : '';

  if (loadError) {
    return (
      <div className="deploy-page">
        <h1>Update {edit?.name}</h1>
        <p role="alert" className="deploy-alert">
          {loadError}
        </p>
      </div>
    );
  }
  if (!templateList) {
    return (
      <div className="deploy-page">
        <h1>{edit ? `Update ${edit.name}` : 'Deploy a function'}</h1>
        <p role="status">Loading…</p>
      </div>
    );
  }

  return (
    <div className="deploy-page">
      <h1>{edit ? `Update ${edit.name}` : 'Deploy a function'}</h1>
      <form onSubmit={(e) => void deploy(e)} noValidate aria-label={edit ? `Update ${edit.name}` : 'Deploy a function'}>
        <section className="deploy-section" aria-labelledby="deploy-h-name">
          <h2 id="deploy-h-name">1. Name</h2>
          <div className="deploy-grid">
            <div className="deploy-field">
              <label htmlFor="deploy-name">Function name</label>
              <input
                id="deploy-name"
                value={name}
                readOnly={edit !== undefined}
                required
                maxLength={NAME_MAX_LENGTH + 10}
                autoComplete="off"
                spellCheck={false}
                placeholder="hello-world"
                aria-invalid={nameShown ? true : undefined}
                aria-describedby={describedBy('deploy-name-help', nameShown && 'deploy-name-error')}
                onChange={(e) => setName(e.target.value)}
                onBlur={() => setNameTouched(true)}
              />
              <small id="deploy-name-help" className="deploy-help">
                {edit ? 'The name of a deployed function cannot change.' : `Lower-case letters, digits and '-', at most ${NAME_MAX_LENGTH}.`}
              </small>
              {nameShown && (
                <p id="deploy-name-error" className="deploy-error">
                  {nameShown}
                </p>
              )}
            </div>
            <div className="deploy-field">
              <label htmlFor="deploy-namespace">Namespace</label>
              <input
                id="deploy-namespace"
                value={namespace}
                readOnly={edit !== undefined}
                autoComplete="off"
                spellCheck={false}
                aria-invalid={errors.namespace ? true : undefined}
                aria-describedby={errors.namespace ? 'deploy-namespace-error' : undefined}
                onChange={(e) => setNamespace(e.target.value)}
              />
              {errors.namespace && (
                <p id="deploy-namespace-error" className="deploy-error">
                  {errors.namespace}
                </p>
              )}
            </div>
          </div>
        </section>

        <section className="deploy-section" aria-labelledby="deploy-h-template">
          <h2 id="deploy-h-template">2. Template</h2>
          {templateWarning && (
            <p className="deploy-warning" role="status">
              {templateWarning}
            </p>
          )}
          {existing && (
            <div className="deploy-check">
              <input id="deploy-keep-code" type="checkbox" checked={keepCode} onChange={(e) => setKeepCode(e.target.checked)} aria-describedby="deploy-keep-code-help" />
              <label htmlFor="deploy-keep-code">Keep the deployed code</label>
              <small id="deploy-keep-code-help" className="deploy-help">
                The gateway does not return a function’s source. Checked, the update re-uses the deployed code
                {existing.code ? ` (${existing.code.slice(0, 19)}…)` : ''} and runtime ({existing.runtime}); unchecked, the files below replace it.
              </small>
            </div>
          )}
          <div className="deploy-field">
            <label htmlFor="deploy-template">Template</label>
            <select
              id="deploy-template"
              value={templateName}
              disabled={codeLocked}
              aria-invalid={show('template', false) ? true : undefined}
              onChange={(e) => chooseTemplate(e.target.value)}
            >
              {!template && <option value="">Choose a template</option>}
              {templateList.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.description ? `${t.name} — ${t.description}` : t.name}
                </option>
              ))}
            </select>
            {show('template', false) && <p className="deploy-error">{errors.template}</p>}
          </div>
        </section>

        <section className="deploy-section" aria-labelledby="deploy-h-code">
          <h2 id="deploy-h-code">3. Code</h2>
          <p id="deploy-code-help" className="deploy-help">
            {codeLocked ? 'Read-only: uncheck “Keep the deployed code” to edit and upload new code. ' : ''}
            <code>{'{{name}}'}</code> is replaced by the function’s name when the code is packaged. Tab moves to the next control; indent with Ctrl+] and Ctrl+[.
          </p>
          <div className="deploy-files" role="group" aria-label="Files">
            {files.map((f) => (
              <span key={f.path} className="deploy-file">
                <button
                  type="button"
                  className="deploy-file-tab"
                  aria-pressed={selected?.path === f.path}
                  onClick={() => setSelectedPath(f.path)}
                >
                  {f.path}
                  {f.path === template?.mainFile ? ' (main)' : ''}
                </button>
                {f.path !== template?.mainFile && !codeLocked && (
                  <button type="button" className="deploy-icon-button" aria-label={`Remove file ${f.path}`} title={`Remove ${f.path}`} onClick={() => removeFile(f.path)}>
                    ×
                  </button>
                )}
              </span>
            ))}
          </div>
          {selected && (
            <CodeEditor
              key={`${templateName}:${selected.path}`}
              value={selected.content}
              language={languageForPath(selected.path)}
              ariaLabel={`Code editor: ${selected.path}`}
              readOnly={codeLocked}
              describedBy="deploy-code-help"
              onChange={(content) => updateFiles((fs) => fs.map((f) => (f.path === selected.path ? { ...f, content } : f)))}
            />
          )}
          {!codeLocked && (
            <div className="deploy-add-file">
              <div className="deploy-field">
                <label htmlFor="deploy-new-file">New file name</label>
                <input
                  id="deploy-new-file"
                  value={newFile}
                  placeholder="lib/util.js"
                  autoComplete="off"
                  spellCheck={false}
                  aria-invalid={newFileError || show('files', false) ? true : undefined}
                  aria-describedby={newFileError || show('files', false) ? 'deploy-new-file-error' : undefined}
                  onChange={(e) => {
                    setNewFile(e.target.value);
                    setNewFileError(undefined);
                  }}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter') {
                      e.preventDefault();
                      addFile();
                    }
                  }}
                />
                {(newFileError || show('files', false)) && (
                  <p id="deploy-new-file-error" className="deploy-error">
                    {newFileError ?? errors.files}
                  </p>
                )}
              </div>
              <div className="deploy-actions-inline">
                <button type="button" onClick={addFile}>
                  Add file
                </button>
                <button type="button" className="deploy-secondary" onClick={resetTemplate} disabled={!template}>
                  Reset to template
                </button>
              </div>
            </div>
          )}
        </section>

        <section className="deploy-section" aria-labelledby="deploy-h-env">
          <h2 id="deploy-h-env">4. Environment variables</h2>
          <p className="deploy-help">Visible to anyone who can read the function: put credentials in a secret.</p>
          {env.length > 0 && (
            <ul className="deploy-env-list">
              {env.map((row, i) => {
                const err = envErrors.get(row.id);
                return (
                  <li key={row.id} className="deploy-env-row">
                    <input
                      id={`deploy-env-name-${row.id}`}
                      aria-label={`Variable name ${i + 1}`}
                      placeholder="NAME"
                      value={row.name}
                      autoComplete="off"
                      spellCheck={false}
                      aria-invalid={err ? true : undefined}
                      aria-describedby={err ? `deploy-env-error-${row.id}` : undefined}
                      onChange={(e) => setEnv((rows) => rows.map((r) => (r.id === row.id ? { ...r, name: e.target.value } : r)))}
                    />
                    <input
                      aria-label={`Variable value ${i + 1}`}
                      placeholder="value"
                      value={row.value}
                      autoComplete="off"
                      spellCheck={false}
                      onChange={(e) => setEnv((rows) => rows.map((r) => (r.id === row.id ? { ...r, value: e.target.value } : r)))}
                    />
                    <button
                      type="button"
                      className="deploy-icon-button"
                      aria-label={`Remove variable ${i + 1}${row.name ? ` (${row.name})` : ''}`}
                      onClick={() => setEnv((rows) => rows.filter((r) => r.id !== row.id))}
                    >
                      ×
                    </button>
                    {err && (
                      <p id={`deploy-env-error-${row.id}`} className="deploy-error deploy-env-error">
                        {err}
                      </p>
                    )}
                  </li>
                );
              })}
            </ul>
          )}
          <button
            type="button"
            onClick={() => {
              const id = nextId.current++;
              setEnv((rows) => [...rows, { id, name: '', value: '' }]);
              requestAnimationFrame(() => document.getElementById(`deploy-env-name-${id}`)?.focus());
            }}
          >
            Add variable
          </button>
        </section>

        <section className="deploy-section" aria-labelledby="deploy-h-secrets">
          <h2 id="deploy-h-secrets">5. Secrets</h2>
          <p className="deploy-help">
            The function reads each chosen secret from <code>/var/openfaas/secrets/NAME</code>. Only names are listed; values are never shown here. Create one with{' '}
            <code>
              kss secret create NAME --from-file ./value.txt{nsFlag}
            </code>
            .
          </p>
          {secretsError && (
            <p className="deploy-error" role="status">
              Secrets could not be listed: {secretsError}
            </p>
          )}
          {!secretsError && secretNames === undefined && !namespaceError && <p className="deploy-help">Loading secrets…</p>}
          {secretNames !== undefined && allSecrets.length === 0 && <p className="deploy-help">No secrets in namespace {namespace}.</p>}
          {allSecrets.length > 0 && (
            <fieldset className="deploy-secrets">
              <legend>Secrets in {namespace}</legend>
              {allSecrets.map((s) => {
                const missing = secretNames !== undefined && !secretNames.includes(s);
                return (
                  <div key={s} className="deploy-check">
                    <input
                      id={`deploy-secret-${s}`}
                      type="checkbox"
                      checked={chosenSecrets.includes(s)}
                      onChange={(e) => setChosenSecrets((c) => (e.target.checked ? [...c, s] : c.filter((x) => x !== s)))}
                    />
                    <label htmlFor={`deploy-secret-${s}`}>
                      {s}
                      {missing ? ' (not found in this namespace: the deploy will be refused)' : ''}
                    </label>
                  </div>
                );
              })}
            </fieldset>
          )}
        </section>

        <section className="deploy-section" aria-labelledby="deploy-h-limits">
          <h2 id="deploy-h-limits">6. Limits</h2>
          <div className="deploy-grid">
            <div className="deploy-field">
              <label htmlFor="deploy-memory">Memory limit</label>
              <input
                id="deploy-memory"
                value={memory}
                placeholder="128Mi"
                autoComplete="off"
                spellCheck={false}
                aria-invalid={errors.memory ? true : undefined}
                aria-describedby={describedBy('deploy-memory-help', errors.memory && 'deploy-memory-error')}
                onChange={(e) => setMemory(e.target.value)}
              />
              <small id="deploy-memory-help" className="deploy-help">
                A Kubernetes quantity: 128Mi, 1Gi. Empty: the gateway’s default.
              </small>
              {errors.memory && (
                <p id="deploy-memory-error" className="deploy-error">
                  {errors.memory}
                </p>
              )}
            </div>
            <div className="deploy-field">
              <label htmlFor="deploy-cpu">CPU limit</label>
              <input
                id="deploy-cpu"
                value={cpu}
                placeholder="500m"
                autoComplete="off"
                spellCheck={false}
                aria-invalid={errors.cpu ? true : undefined}
                aria-describedby={describedBy('deploy-cpu-help', errors.cpu && 'deploy-cpu-error')}
                onChange={(e) => setCpu(e.target.value)}
              />
              <small id="deploy-cpu-help" className="deploy-help">
                Cores: 500m is half a core, 2 is two.
              </small>
              {errors.cpu && (
                <p id="deploy-cpu-error" className="deploy-error">
                  {errors.cpu}
                </p>
              )}
            </div>
          </div>
        </section>

        <section className="deploy-section" aria-labelledby="deploy-h-scaling">
          <h2 id="deploy-h-scaling">7. Scaling</h2>
          <div className="deploy-grid">
            <ReplicaField id="deploy-min" label="Minimum replicas" min={0} value={minScale} placeholder={DEFAULT_SCALE_MIN} error={errors.min} onChange={setMinScale} />
            <ReplicaField id="deploy-max" label="Maximum replicas" min={1} value={maxScale} placeholder={DEFAULT_SCALE_MAX} error={errors.max} onChange={setMaxScale} />
          </div>
          <div className="deploy-check">
            <input
              id="deploy-scale-zero"
              type="checkbox"
              checked={scaleZero}
              aria-describedby="deploy-scale-zero-help"
              onChange={(e) => {
                setScaleZero(e.target.checked);
                setScaleZeroSet(true);
              }}
            />
            <label htmlFor="deploy-scale-zero">Scale to zero when idle</label>
            <small id="deploy-scale-zero-help" className="deploy-help">
              Empty fields and an untouched box are not sent: the gateway’s defaults apply (min {DEFAULT_SCALE_MIN}, max {DEFAULT_SCALE_MAX}; a minimum of 0 also
              allows scaling to zero).
            </small>
          </div>
        </section>

        <section className="deploy-section" aria-labelledby="deploy-h-triggers">
          <h2 id="deploy-h-triggers">8. Triggers</h2>
          <div className="deploy-field">
            <label htmlFor="deploy-triggers">Triggers (JSON array)</label>
            <textarea
              id="deploy-triggers"
              rows={5}
              value={triggersText}
              spellCheck={false}
              placeholder={'[{"type":"cron","schedule":"*/5 * * * *"}]'}
              aria-invalid={errors.triggers ? true : undefined}
              aria-describedby={describedBy('deploy-triggers-help', errors.triggers && 'deploy-triggers-error')}
              onChange={(e) => setTriggersText(e.target.value)}
            />
            <small id="deploy-triggers-help" className="deploy-help">
              Empty: no triggers. Types: cron, mqtt, nats, rabbitmq (fields as in stack.yml: see “Triggers” in the README).
            </small>
            {errors.triggers && (
              <p id="deploy-triggers-error" className="deploy-error">
                {errors.triggers}
              </p>
            )}
          </div>
        </section>

        <section className="deploy-section" aria-labelledby="deploy-h-deploy">
          <h2 id="deploy-h-deploy">9. {edit ? 'Update' : 'Deploy'}</h2>
          <button type="submit" className="deploy-primary" disabled={running}>
            {running ? (edit ? 'Updating…' : 'Deploying…') : edit ? 'Update' : 'Deploy'}
          </button>
          <ol data-testid="deploy-progress" className="deploy-progress" aria-live="polite" aria-label="Deploy progress">
            {STEPS.map((s) => {
              const st = steps[s];
              return (
                <li key={s} className={`deploy-step deploy-step-${st.status}`} data-state={st.status}>
                  <span className="deploy-step-icon" aria-hidden="true">
                    {{ pending: '○', running: '◔', done: '✓', failed: '✗', skipped: '–' }[st.status]}
                  </span>
                  <span className="deploy-step-name">{s}</span>
                  <span className="deploy-step-state">
                    {st.status}
                    {st.ms !== undefined ? ` in ${seconds(st.ms)}` : ''}
                    {st.detail ? ` — ${st.detail}` : ''}
                  </span>
                </li>
              );
            })}
          </ol>
          {failure?.kind === 'build' && (
            <div className="deploy-failure">
              <h3>
                Build failed{failure.code ? ` (${failure.code})` : ''}
              </h3>
              <pre role="alert" className="deploy-build-output">
                {failure.text}
              </pre>
            </div>
          )}
          {failure?.kind === 'error' && (
            <p role="alert" className="deploy-alert">
              {failure.text}
            </p>
          )}
          {buildLog && (
            <details className="deploy-build-log">
              <summary>Build output</summary>
              <pre>{buildLog}</pre>
            </details>
          )}
          {ready && (
            <div className="deploy-ready">
              <p role="status">
                Ready: {ready.available}/{ready.replicas} replicas
              </p>
              <button type="button" onClick={() => navigate(functionPath(ready.name, ready.namespace))}>
                Open function
              </button>
            </div>
          )}
        </section>
      </form>
    </div>
  );
}

/** A replica-count input with its inline error (the scaling section's min and max). */
function ReplicaField(props: { id: string; label: string; min: number; value: string; placeholder: number; error?: string; onChange: (value: string) => void }) {
  const errorId = `${props.id}-error`;
  return (
    <div className="deploy-field">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="number"
        inputMode="numeric"
        min={props.min}
        max={9999}
        step={1}
        value={props.value}
        placeholder={String(props.placeholder)}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={props.error ? errorId : undefined}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.error && (
        <p id={errorId} className="deploy-error">
          {props.error}
        </p>
      )}
    </div>
  );
}
