/**
 * Offline checks of the Kubernetes packaging (no cluster runs here): every document in
 * deploy/kubernetes/ validated by kubernetes-models, the CRD's schema structural and
 * used (with ajv) to validate the example Functions and reject bad ones, the RBAC
 * least-privilege, the Function resource mapping, the Dockerfiles' shape and the code
 * delivery entrypoint run for real with sh.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { isKssError, parseFunctionSpec } from '../src/core/index.js';
import { functionSchema, loadFunctionCrd, FUNCTION_CRD_PATH } from '../src/providers/kubernetes/crd.js';
import {
  FUNCTION_API_VERSION,
  FUNCTION_CRD_NAME,
  FUNCTION_GROUP,
  FUNCTION_KIND,
  FUNCTION_PLURAL,
  FUNCTION_VERSION,
  fromFunctionResource,
  toFunctionResource,
} from '../src/providers/kubernetes/function-resource.js';
import { functionObjects } from '../src/providers/kubernetes/manifests.js';
import { CLUSTER_SCOPED, crdValidator, selects, structuralViolations, validateObject, type KubeObject } from './kubernetes-validate.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy', 'kubernetes');
const DOCKER = join(ROOT, 'deploy', 'docker');
const NAMESPACES = new Set(['kube-serverless', 'openfaas-fn']);

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yamlFiles(p, out);
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** Every document of every YAML file under deploy/kubernetes/, with the file it came from. */
function documents(): Array<{ file: string; obj: KubeObject }> {
  const out: Array<{ file: string; obj: KubeObject }> = [];
  for (const file of yamlFiles(DEPLOY)) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${file}: ${doc.errors.join('; ')}`);
      const obj = doc.toJS() as KubeObject | null;
      if (obj) out.push({ file: relative(ROOT, file), obj });
    }
  }
  return out;
}

const validateFunction = crdValidator(functionSchema());

test('every document in deploy/kubernetes/ validates (kubernetes-models; Functions against the CRD schema)', () => {
  const docs = documents();
  assert.ok(docs.length >= 20, `only ${docs.length} documents`);
  const kinds = new Set(docs.map((d) => d.obj.kind));
  for (const k of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy', 'Ingress', 'Function']) {
    assert.ok(kinds.has(k), `no ${k} in deploy/kubernetes/`);
  }
  for (const { file, obj } of docs) {
    assert.doesNotThrow(() => validateObject(obj, validateFunction), (e: unknown) => `${file}: ${(e as Error).message}`);
    // Namespaced consistently: our two namespaces, nothing cluster-scoped carries one.
    if (CLUSTER_SCOPED.has(obj.kind!)) assert.equal(obj.metadata!.namespace, undefined, `${file}: ${obj.kind} ${obj.metadata!.name} is cluster-scoped`);
    else assert.ok(NAMESPACES.has(obj.metadata!.namespace!), `${file}: ${obj.kind} ${obj.metadata!.name} in namespace ${obj.metadata!.namespace}`);
  }
});

test('an unknown kind or a schema violation fails validation', () => {
  assert.throws(() => validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }), /unknown apiVersion\/kind/);
  assert.throws(
    () => validateObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'c', ports: [{ containerPort: '80' }] }] } } } }),
    /containerPort/,
  );
  assert.throws(() => validateObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: 'http' } }), /ports/);
});

test('the CRD: names, version, subresources, printer columns, structural schema', () => {
  const crd = loadFunctionCrd();
  validateObject(crd as unknown as KubeObject);
  assert.equal(crd.metadata!.name, FUNCTION_CRD_NAME);
  assert.equal(crd.spec.group, FUNCTION_GROUP);
  assert.equal(crd.spec.scope, 'Namespaced');
  assert.equal(crd.spec.names.kind, FUNCTION_KIND);
  assert.equal(crd.spec.names.plural, FUNCTION_PLURAL);
  assert.deepEqual(crd.spec.names.shortNames, ['fn']);
  assert.deepEqual(crd.spec.names.categories, ['kube-serverless']);
  assert.equal(crd.spec.versions.length, 1);
  const v = crd.spec.versions[0]!;
  assert.equal(v.name, FUNCTION_VERSION);
  assert.equal(v.served, true);
  assert.equal(v.storage, true);
  assert.deepEqual(v.subresources?.status, {});
  assert.equal(v.subresources?.scale, undefined, 'no spec.replicas, so no scale subresource');
  assert.deepEqual(v.additionalPrinterColumns!.map((c) => [c.name, c.jsonPath]), [
    ['Runtime', '.spec.runtime'],
    ['Ready', '.status.availableReplicas'],
    ['Desired', '.status.replicas'],
    ['Latest', '.status.latestRevision'],
    ['Traffic', '.status.split'],
    ['Age', '.metadata.creationTimestamp'],
  ]);
  const schema = functionSchema(crd);
  assert.deepEqual(structuralViolations(schema), []);
  // Every FunctionSpec field (but the two in metadata) is in the schema, with a description.
  const specProps = (schema.properties as Record<string, { properties: Record<string, { description?: string }> }>).spec.properties;
  const full = parseFunctionSpec({ service: 'x', image: 'i', envProcess: 'p', envVars: {}, constraints: [], secrets: [], labels: {}, annotations: {}, limits: { cpu: '1' }, requests: { cpu: '1' }, readOnlyRootFilesystem: true, code: `sha256:${'0'.repeat(64)}`, handler: 'h', triggers: [{ type: 'cron', schedule: '* * * * *' }] });
  for (const field of Object.keys(full).filter((k) => k !== 'service' && k !== 'namespace')) {
    assert.ok(specProps[field], `spec.${field} is not in the CRD schema`);
    assert.ok(specProps[field]!.description, `spec.${field} has no description`);
  }
});

test('the CRD object (crd.ts) is the YAML file', () => {
  const fromYaml = parseAllDocuments(readFileSync(FUNCTION_CRD_PATH, 'utf8')).map((d) => d.toJS());
  assert.equal(fromYaml.length, 1);
  assert.deepEqual(loadFunctionCrd(), fromYaml[0]);
  assert.equal(FUNCTION_CRD_PATH, join(DEPLOY, 'crd.yaml'));
});

test('example Functions: valid against the CRD, parse as FunctionSpecs, and become valid objects', () => {
  const examples = documents().filter((d) => d.obj.kind === 'Function');
  assert.ok(examples.length >= 2);
  for (const { file, obj } of examples) {
    assert.ok(validateFunction(obj), `${file}: ${JSON.stringify(validateFunction.errors)}`);
    const spec = fromFunctionResource(obj);
    const code = spec.code ? { kind: 'configmap' as const, name: `${spec.service}-code` } : undefined;
    const owner = { apiVersion: FUNCTION_API_VERSION, kind: FUNCTION_KIND, name: spec.service, uid: '00000000-0000-4000-8000-000000000000' };
    for (const o of functionObjects(spec, { owner, ...(code ? { code } : {}) })) validateObject(o as KubeObject);
  }
});

test('the CRD schema rejects bad Functions: runtime, digest, types, trigger type, quantities', () => {
  const good = { apiVersion: FUNCTION_API_VERSION, kind: FUNCTION_KIND, metadata: { name: 'f', namespace: 'openfaas-fn' }, spec: { runtime: 'node', code: `sha256:${'a'.repeat(64)}`, timeout: 5 } };
  assert.ok(validateFunction(good), JSON.stringify(validateFunction.errors));
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['runtime', { runtime: 'ruby' }, /\/spec\/runtime/],
    ['digest', { code: 'md5:abc' }, /\/spec\/code/],
    ['short digest', { code: `sha256:${'a'.repeat(63)}` }, /\/spec\/code/],
    ['timeout type', { timeout: '30s' }, /\/spec\/timeout/],
    ['timeout range', { timeout: 0 }, /\/spec\/timeout/],
    ['envVars values', { envVars: { A: 1 } }, /\/spec\/envVars\/A/],
    ['secrets type', { secrets: 'api-key' }, /\/spec\/secrets/],
    ['secret name', { secrets: ['Bad_Name'] }, /\/spec\/secrets\/0/],
    ['memory quantity', { limits: { memory: '128 megs' } }, /\/spec\/limits\/memory/],
    ['cpu type', { requests: { cpu: 1 } }, /\/spec\/requests\/cpu/],
    ['readOnlyRootFilesystem type', { readOnlyRootFilesystem: 'yes' }, /\/spec\/readOnlyRootFilesystem/],
    ['trigger type', { triggers: [{ type: 'kafka' }] }, /\/spec\/triggers\/0\/type/],
    ['trigger without type', { triggers: [{ schedule: '* * * * *' }] }, /\/spec\/triggers\/0/],
    ['labels values', { labels: { a: true } }, /\/spec\/labels\/a/],
  ];
  for (const [what, fields, where] of bad) {
    const obj = { ...good, spec: { ...good.spec, ...fields } };
    assert.equal(validateFunction(obj), false, `${what} accepted`);
    assert.match(JSON.stringify(validateFunction.errors), where, what);
  }
  assert.equal(validateFunction({ ...good, status: { replicas: -1 } }), false);
  assert.ok(validateFunction({ ...good, status: { replicas: 1, availableReplicas: 1, observedGeneration: 2, url: 'http://gw/function/f', conditions: [{ type: 'Ready', status: 'True', reason: 'Available', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }] } }), JSON.stringify(validateFunction.errors));
  assert.equal(validateFunction({ ...good, status: { conditions: [{ type: 'Ready', status: 'yes' }] } }), false);
});

test('RBAC: least privilege — no wildcards, no cluster-admin, read-only where it should be', () => {
  const docs = documents().map((d) => d.obj);
  const rbac = docs.filter((o) => o.apiVersion === 'rbac.authorization.k8s.io/v1');
  assert.ok(rbac.length > 0);
  type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] };
  for (const o of rbac) {
    for (const r of (o.rules as Rule[] | undefined) ?? []) {
      assert.ok(!r.verbs.includes('*'), `${o.kind} ${o.metadata!.name}: * verb`);
      assert.ok(!(r.resources ?? []).includes('*'), `${o.kind} ${o.metadata!.name}: * resource`);
      assert.ok(!(r.apiGroups ?? []).includes('*'), `${o.kind} ${o.metadata!.name}: * apiGroup`);
    }
    const ref = o.roleRef as { kind: string; name: string } | undefined;
    if (ref) assert.notEqual(ref.name, 'cluster-admin', `${o.kind} ${o.metadata!.name} binds cluster-admin`);
    if (o.kind === 'ClusterRoleBinding') assert.notEqual(ref!.name, 'admin');
  }
  // The only ClusterRole reads the Function CRD and nothing else.
  for (const cr of rbac.filter((o) => o.kind === 'ClusterRole')) {
    for (const r of cr.rules as Rule[]) {
      assert.deepEqual(r.resources, ['customresourcedefinitions']);
      assert.deepEqual(r.resourceNames, [FUNCTION_CRD_NAME]);
      assert.ok(r.verbs.every((v) => ['get', 'list', 'watch'].includes(v)), r.verbs.join());
    }
  }
  // The functions-namespace Role: exactly these resources, endpointslices/pods read-only; secrets written by the secrets API, never watched or deleted in bulk.
  const role = rbac.find((o) => o.kind === 'Role' && o.metadata!.namespace === 'openfaas-fn')!;
  const verbsOf = (res: string) => new Set((role.rules as Rule[]).filter((r) => r.resources!.includes(res)).flatMap((r) => r.verbs));
  const all = new Set((role.rules as Rule[]).flatMap((r) => r.resources!));
  assert.deepEqual([...all].sort(), ['configmaps', 'controllerrevisions', 'deployments', 'endpointslices', 'functions', 'functions/status', 'horizontalpodautoscalers', 'persistentvolumeclaims', 'pods', 'pods/log', 'secrets', 'services']);
  // Volume claims: created when missing, never changed or deleted (their data outlives the functions).
  assert.deepEqual([...verbsOf('persistentvolumeclaims')].sort(), ['create', 'get']);
  const write = ['create', 'update', 'patch', 'delete', 'deletecollection'];
  assert.deepEqual([...verbsOf('secrets')].sort(), ['create', 'delete', 'get', 'list', 'patch', 'update']);
  for (const res of ['endpointslices', 'pods', 'pods/log']) {
    assert.ok(![...verbsOf(res)].some((v) => write.includes(v)), `${res} is writable: ${[...verbsOf(res)]}`);
  }
  for (const res of ['functions', 'deployments', 'services', 'configmaps', 'horizontalpodautoscalers']) {
    for (const v of ['get', 'list', 'watch', 'create', 'patch', 'delete']) assert.ok(verbsOf(res).has(v), `${res} lacks ${v}`);
  }
  assert.ok(verbsOf('endpointslices').has('watch'));
  // Revisions: written and collected one by one, never watched, never updated in place.
  assert.deepEqual([...verbsOf('controllerrevisions')].sort(), ['create', 'delete', 'get', 'list', 'patch']);
  // The gateway's own namespace: the leader-election Lease and the API-token Secrets, nothing else.
  const own = rbac.find((o) => o.kind === 'Role' && o.metadata!.namespace === 'kube-serverless')!;
  assert.deepEqual(own.rules, [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
  ]);
  // Every binding names the gateway's ServiceAccount, which exists.
  const sa = docs.find((o) => o.kind === 'ServiceAccount')!;
  for (const b of rbac.filter((o) => o.kind!.endsWith('Binding'))) {
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa.metadata!.name, namespace: sa.metadata!.namespace }]);
    const target = rbac.find((o) => o.kind === (b.roleRef as { kind: string }).kind && o.metadata!.name === (b.roleRef as { name: string }).name && (o.kind === 'ClusterRole' || o.metadata!.namespace === b.metadata!.namespace));
    assert.ok(target, `${b.kind} ${b.metadata!.name}: its role is not in deploy/kubernetes/`);
  }
});

test('the gateway: 2 replicas, non-root, /healthz probes, NATS queue, kubernetes provider; Service, PDB and policies select it', () => {
  const docs = documents().map((d) => d.obj);
  type Dep = { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: Record<string, any> } } };
  const gw = docs.find((o) => o.kind === 'Deployment' && o.metadata!.namespace === 'kube-serverless')! as unknown as KubeObject & Dep;
  assert.ok(gw.spec.replicas >= 2);
  const pod = gw.spec.template.spec;
  const labels = gw.spec.template.metadata.labels;
  assert.ok(selects(gw.spec.selector.matchLabels, labels));
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.serviceAccountName, docs.find((o) => o.kind === 'ServiceAccount')!.metadata!.name);
  const c = pod.containers[0];
  assert.equal(c.readinessProbe.httpGet.path, '/healthz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.deepEqual(c.args.slice(0, 3), ['up', '--provider', 'kubernetes']);
  const env = Object.fromEntries(c.env.filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
  assert.equal(env.KSS_QUEUE, 'nats://nats.kube-serverless:4222');
  assert.equal(env.KSS_HOST, '0.0.0.0');
  for (const init of pod.initContainers ?? []) assert.equal(init.securityContext.runAsNonRoot, true);
  const svc = docs.find((o) => o.kind === 'Service' && o.metadata!.namespace === 'kube-serverless')! as { spec: { selector: Record<string, string> } } & KubeObject;
  assert.ok(selects(svc.spec.selector, labels));
  const pdb = docs.find((o) => o.kind === 'PodDisruptionBudget')! as { spec: { selector: { matchLabels: Record<string, string> }; minAvailable: number } } & KubeObject;
  assert.ok(selects(pdb.spec.selector.matchLabels, labels));
  assert.ok(pdb.spec.minAvailable < gw.spec.replicas);
  // The functions namespace admits ingress only from the gateway's pods.
  type Np = { spec: { podSelector: { matchLabels?: Record<string, string> }; policyTypes: string[]; ingress?: Array<{ from?: Array<{ namespaceSelector?: { matchLabels: Record<string, string> }; podSelector?: { matchLabels: Record<string, string> } }> }> } };
  const fnPolicies = docs.filter((o) => o.kind === 'NetworkPolicy' && o.metadata!.namespace === 'openfaas-fn') as unknown as Array<KubeObject & Np>;
  assert.ok(fnPolicies.some((p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && !p.spec.ingress), 'no default-deny ingress');
  const ingressRules = fnPolicies.flatMap((p) => p.spec.ingress ?? []);
  assert.ok(ingressRules.length > 0);
  for (const rule of ingressRules) {
    assert.ok(rule.from?.length, 'an ingress rule from anywhere');
    for (const peer of rule.from!) {
      assert.equal(peer.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'], 'kube-serverless');
      assert.ok(selects(peer.podSelector?.matchLabels, labels));
    }
  }
  // And those policies select the function pods manifests.ts makes.
  const fnPod = (functionObjects(parseFunctionSpec({ service: 'f', image: 'x/y:1' }))[0] as unknown as Dep).spec.template.metadata.labels;
  assert.ok(fnPolicies.filter((p) => p.spec.ingress).every((p) => selects(p.spec.podSelector.matchLabels, fnPod)));
});

test('toFunctionResource/fromFunctionResource round-trip', () => {
  const specs = [
    parseFunctionSpec({ service: 'hello' }),
    parseFunctionSpec({
      service: 'meter',
      namespace: 'iot',
      runtime: 'python',
      code: `sha256:${'c'.repeat(64)}`,
      handler: 'src/handler.py',
      timeout: '2m',
      envProcess: 'x',
      envVars: { A: '1' },
      constraints: ['kubernetes.io/arch=arm64'],
      secrets: ['s1'],
      labels: { 'com.openfaas.scale.min': '0' },
      annotations: { 'kss.scaling': 'cpu' },
      limits: { memory: '128Mi', cpu: '500m' },
      requests: { memory: '64Mi', cpu: 1 },
      readOnlyRootFilesystem: false,
      triggers: [{ type: 'mqtt', url: 'mqtt://broker:1883', topic: 'a/+' }, { type: 'cron', schedule: '*/5 * * * *' }],
    }),
  ];
  for (const spec of specs) {
    const res = toFunctionResource(spec);
    assert.equal(res.apiVersion, 'serverless.kube.io/v1');
    assert.equal(res.kind, 'Function');
    assert.equal(res.metadata.name, spec.service);
    assert.equal(res.metadata.namespace, spec.namespace);
    assert.equal(res.metadata.labels!['serverless.kube.io/function'], spec.service);
    assert.equal(res.metadata.labels!['app.kubernetes.io/managed-by'], 'kube-serverless');
    assert.equal(res.metadata.labels!.faas_function, spec.service);
    assert.ok(!('service' in res.spec) && !('namespace' in res.spec));
    assert.ok(validateFunction(res), JSON.stringify(validateFunction.errors));
    // Through JSON, as the API server stores it.
    assert.deepEqual(fromFunctionResource(JSON.parse(JSON.stringify(res))), spec);
  }
  const moved = toFunctionResource(specs[0]!, { namespace: 'other', annotations: { a: 'b' } });
  assert.equal(moved.metadata.namespace, 'other');
  assert.deepEqual(moved.metadata.annotations, { a: 'b' });
  assert.equal(fromFunctionResource(moved).namespace, 'other');
});

test('fromFunctionResource rejects bad input naming the field', () => {
  const base = { apiVersion: 'serverless.kube.io/v1', kind: 'Function', metadata: { name: 'f', namespace: 'openfaas-fn' }, spec: { runtime: 'node' } };
  const cases: Array<[unknown, RegExp]> = [
    [null, /^Function:/],
    [{ ...base, apiVersion: 'openfaas.com/v1' }, /^apiVersion:/],
    [{ ...base, kind: 'Deployment' }, /^kind:/],
    [{ ...base, metadata: undefined }, /^metadata:/],
    [{ ...base, metadata: { name: 'Bad_Name', namespace: 'x' } }, /^metadata\.name:/],
    [{ ...base, metadata: { name: 'f', namespace: 'No/Way' } }, /^metadata\.namespace:/],
    [{ ...base, spec: 'x' }, /^spec:/],
    [{ ...base, spec: { runtime: 'ruby' } }, /^spec\.runtime:/],
    [{ ...base, spec: { code: 'sha1:x' } }, /^spec\.code:/],
    [{ ...base, spec: { timeout: -1 } }, /^spec\.timeout:/],
    [{ ...base, spec: { limits: { memory: 'lots' } } }, /^spec\.limits\.memory:/],
    [{ ...base, spec: { envVars: { A: 1 } } }, /^spec\.envVars\.A:/],
    [{ ...base, spec: { triggers: [{ type: 'kafka' }] } }, /^spec\.triggers/],
  ];
  for (const [input, field] of cases) {
    assert.throws(() => fromFunctionResource(input), (e: unknown) => isKssError(e) && field.test(e.message) && e.status === 400, `${JSON.stringify(input)} → ${field}`);
  }
});

test('Dockerfiles: say they are not built here, multi-stage, non-root 10001, small bases, COPY sources exist', () => {
  for (const name of ['gateway', 'runtime-node', 'runtime-python', 'runtime-go', 'runtime-exec']) {
    const text = readFileSync(join(DOCKER, `${name}.Dockerfile`), 'utf8');
    assert.match(text.split('\n').slice(0, 6).join('\n'), /NOT BUILT HERE/, name);
    const froms = text.match(/^FROM\s+(\S+)/gm) ?? [];
    assert.ok(froms.length >= 2, `${name}: not multi-stage`);
    assert.match(froms.at(-1)!, /alpine|distroless/, `${name}: final base ${froms.at(-1)}`);
    assert.match(text, /^USER 10001(:10001)?$/m, `${name}: not uid 10001`);
    for (const m of text.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const srcs = m[1]!.trim().split(/\s+/).slice(0, -1);
      for (const s of srcs) if (s !== '.') assert.ok(existsSync(join(ROOT, s)), `${name}: COPY ${s} does not exist`);
    }
    if (name.startsWith('runtime-')) assert.match(text, /ENTRYPOINT \["\/usr\/local\/bin\/kss-entrypoint"\]/, name);
  }
});

/** Runs code-entrypoint.sh with `env`, the runtime replaced by `sh -c cmd`. */
function entrypoint(env: Record<string, string>, cmd: string) {
  return spawnSync('sh', [join(DOCKER, 'code-entrypoint.sh'), 'sh', '-c', cmd], { env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8', timeout: 30_000 });
}

function tarGz(dir: string, files: Record<string, string>, out: string, extraArgs: string[] = []): void {
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), body);
  }
  const r = spawnSync('tar', ['-czf', out, ...extraArgs, '-C', dir, ...Object.keys(files)]);
  assert.equal(r.status, 0, String(r.stderr));
}

test('code-entrypoint.sh: unpacks KSS_CODE_ARCHIVE or KSS_CODE_URL into KSS_CODE_DIR, then execs the runtime', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kss-entry-'));
  try {
    const archive = join(tmp, 'code.tar.gz');
    tarGz(join(tmp, 'src'), { 'handler.js': 'module.exports = 1', 'lib/x.txt': 'x' }, archive);
    const dest = join(tmp, 'fn');
    const r = entrypoint({ KSS_CODE_ARCHIVE: archive, KSS_CODE_DIR: dest }, 'pwd; cat handler.js lib/x.txt');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${dest}\nmodule.exports = 1x`);

    // By URL (a local HTTP server standing in for the gateway's code store).
    const body = readFileSync(archive);
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      if (hits === 1) return void res.writeHead(503).end();
      res.writeHead(200, { 'content-type': 'application/gzip' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const dest2 = join(tmp, 'fn2');
    const r2 = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      // spawnSync would block the server's event loop.
      import('node:child_process').then(({ execFile }) => {
        execFile('sh', [join(DOCKER, 'code-entrypoint.sh'), 'sh', '-c', 'cat handler.js'], { env: { PATH: process.env.PATH!, KSS_CODE_URL: `http://127.0.0.1:${port}/code`, KSS_CODE_DIR: dest2 } }, (err, stdout, stderr) =>
          resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    });
    server.close();
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(r2.stdout, 'module.exports = 1');
    assert.equal(hits, 2, 'retried after a 503');

    // Nothing to unpack: the runtime just runs.
    const r3 = entrypoint({}, 'echo plain');
    assert.equal(r3.status, 0);
    assert.equal(r3.stdout, 'plain\n');

    // Refused: both set, unreadable archive, an archive climbing out, not a tar.gz.
    assert.equal(entrypoint({ KSS_CODE_ARCHIVE: archive, KSS_CODE_URL: 'http://x/' }, 'true').status, 64);
    assert.equal(entrypoint({ KSS_CODE_ARCHIVE: join(tmp, 'missing') }, 'true').status, 64);
    const evil = join(tmp, 'evil.tar.gz');
    mkdirSync(join(tmp, 'e', 'in'), { recursive: true });
    writeFileSync(join(tmp, 'e', 'escape.txt'), 'x');
    assert.equal(spawnSync('tar', ['-czPf', evil, '-C', join(tmp, 'e', 'in'), '../escape.txt']).status, 0);
    assert.match(spawnSync('tar', ['-tzf', evil], { encoding: 'utf8' }).stdout, /^\.\.\/escape\.txt$/m);
    const r4 = entrypoint({ KSS_CODE_ARCHIVE: evil, KSS_CODE_DIR: join(tmp, 'fn3') }, 'echo ran');
    assert.equal(r4.status, 66, r4.stderr);
    assert.ok(!r4.stdout.includes('ran'));
    const junk = join(tmp, 'junk.tar.gz');
    writeFileSync(junk, 'not a tarball');
    assert.equal(entrypoint({ KSS_CODE_ARCHIVE: junk, KSS_CODE_DIR: join(tmp, 'fn4') }, 'echo ran').status, 66);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

/**
 * Lays `archive` out as the kubelet projects the code ConfigMaps: the parts (cut every
 * `size` bytes) in a timestamped folder, `..data` pointing at it, and one symlink per
 * key — the dot entries must not count as parts.
 */
function projectParts(dir: string, archive: Buffer, size: number, order: (keys: string[]) => Buffer[] = () => []): number {
  const stamp = join(dir, '..2025_01_01_00_00_00.000000001');
  mkdirSync(stamp, { recursive: true });
  symlinkSync('..2025_01_01_00_00_00.000000001', join(dir, '..data'));
  const chunks: Buffer[] = [];
  for (let o = 0; o < archive.length; o += size) chunks.push(archive.subarray(o, o + size));
  const keys = chunks.map((_, i) => `code.tar.gz.part-${String(i).padStart(3, '0')}`);
  const bodies = order(keys);
  for (const [i, k] of keys.entries()) {
    writeFileSync(join(stamp, k), bodies[i] ?? chunks[i]!);
    symlinkSync(`..data/${k}`, join(dir, k));
  }
  return keys.length;
}

test('code-entrypoint.sh: concatenates KSS_CODE_PARTS_DIR parts in name order and unpacks them; refuses missing, extra or mixed parts', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kss-parts-'));
  try {
    const archive = join(tmp, 'code.tar.gz');
    // Incompressible data: the archive really spans many parts.
    const blob = randomBytes(150_000);
    const src = join(tmp, 'src');
    mkdirSync(join(src, 'lib'), { recursive: true });
    writeFileSync(join(src, 'blob.bin'), blob);
    writeFileSync(join(src, 'handler.js'), 'module.exports = 2');
    writeFileSync(join(src, 'lib', 'y.txt'), 'y');
    assert.equal(spawnSync('tar', ['-czf', archive, '-C', src, 'handler.js', 'lib/y.txt', 'blob.bin']).status, 0);
    const bytes = readFileSync(archive);
    const size = 13_000; // 12+ parts: part-010 must sort after part-009.
    const dir = join(tmp, 'code');
    const n = projectParts(dir, bytes, size);
    assert.ok(n > 10, `${n} parts`);
    const dest = join(tmp, 'fn');
    const r = entrypoint({ KSS_CODE_PARTS_DIR: dir, KSS_CODE_PARTS: String(n), KSS_CODE_DIR: dest, BLOB: join(src, 'blob.bin') }, 'pwd; cat handler.js lib/y.txt; cmp blob.bin "$BLOB" && echo same');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${dest}\nmodule.exports = 2ysame\n`);
    // One part (what a small function gets).
    const one = join(tmp, 'one');
    assert.equal(projectParts(one, bytes, bytes.length), 1);
    const r1 = entrypoint({ KSS_CODE_PARTS_DIR: one, KSS_CODE_PARTS: '1', KSS_CODE_DIR: join(tmp, 'fn1') }, 'cat handler.js');
    assert.equal(r1.status, 0, r1.stderr);
    assert.equal(r1.stdout, 'module.exports = 2');

    // Fewer parts than KSS_CODE_PARTS, or more: 66, the runtime never runs.
    const fewer = entrypoint({ KSS_CODE_PARTS_DIR: dir, KSS_CODE_PARTS: String(n + 1), KSS_CODE_DIR: join(tmp, 'fn2') }, 'echo ran');
    assert.equal(fewer.status, 66, fewer.stderr);
    assert.match(fewer.stderr, new RegExp(`has ${n} readable code parts, KSS_CODE_PARTS says ${n + 1}`));
    assert.ok(!fewer.stdout.includes('ran'));
    assert.equal(entrypoint({ KSS_CODE_PARTS_DIR: dir, KSS_CODE_PARTS: String(n - 1), KSS_CODE_DIR: join(tmp, 'fn3') }, 'echo ran').status, 66);
    // Parts out of order (two swapped) or a part of another version: gzip refuses the stream.
    const swapped = join(tmp, 'swapped');
    projectParts(swapped, bytes, size, (keys) => keys.map((_, i) => bytes.subarray((i === 1 ? 2 : i === 2 ? 1 : i) * size, ((i === 1 ? 2 : i === 2 ? 1 : i) + 1) * size)));
    const rs = entrypoint({ KSS_CODE_PARTS_DIR: swapped, KSS_CODE_PARTS: String(n), KSS_CODE_DIR: join(tmp, 'fn4') }, 'echo ran');
    assert.equal(rs.status, 66, rs.stderr);
    assert.ok(!rs.stdout.includes('ran'));
    const mixed = join(tmp, 'mixed');
    projectParts(mixed, bytes, size, (keys) => keys.map((_, i) => (i === 3 ? randomBytes(size) : bytes.subarray(i * size, (i + 1) * size))));
    assert.equal(entrypoint({ KSS_CODE_PARTS_DIR: mixed, KSS_CODE_PARTS: String(n), KSS_CODE_DIR: join(tmp, 'fn5') }, 'echo ran').status, 66);
    // An archive climbing out, in parts: refused as in one piece.
    const evil = join(tmp, 'evil.tar.gz');
    mkdirSync(join(tmp, 'e', 'in'), { recursive: true });
    writeFileSync(join(tmp, 'e', 'escape.txt'), 'x');
    assert.equal(spawnSync('tar', ['-czPf', evil, '-C', join(tmp, 'e', 'in'), '../escape.txt']).status, 0);
    const evilDir = join(tmp, 'evil');
    const en = projectParts(evilDir, readFileSync(evil), 40);
    assert.ok(en > 1);
    const re = entrypoint({ KSS_CODE_PARTS_DIR: evilDir, KSS_CODE_PARTS: String(en), KSS_CODE_DIR: join(tmp, 'fn6') }, 'echo ran');
    assert.equal(re.status, 66, re.stderr);
    assert.match(re.stderr, /outside its folder/);

    // Bad configuration: 64.
    assert.equal(entrypoint({ KSS_CODE_PARTS_DIR: dir, KSS_CODE_DIR: join(tmp, 'fn7') }, 'true').status, 64, 'no KSS_CODE_PARTS');
    assert.equal(entrypoint({ KSS_CODE_PARTS_DIR: dir, KSS_CODE_PARTS: 'three' }, 'true').status, 64);
    assert.equal(entrypoint({ KSS_CODE_PARTS_DIR: dir, KSS_CODE_PARTS: '0' }, 'true').status, 64);
    assert.equal(entrypoint({ KSS_CODE_PARTS_DIR: join(tmp, 'nowhere'), KSS_CODE_PARTS: '1' }, 'true').status, 64);
    assert.equal(entrypoint({ KSS_CODE_PARTS_DIR: dir, KSS_CODE_PARTS: String(n), KSS_CODE_ARCHIVE: archive }, 'true').status, 64, 'two deliveries');
    assert.equal(entrypoint({ KSS_CODE_PARTS_DIR: dir, KSS_CODE_PARTS: String(n), KSS_CODE_URL: 'http://x/' }, 'true').status, 64, 'two deliveries');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
