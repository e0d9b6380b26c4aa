/**
 * Offline checks of the Helm chart deploy/helm/kube-serverless/ (there is no `helm`
 * binary here): the chart is rendered by test/helm-render.ts (the Go-template subset
 * the chart is restricted to) with its defaults and several value sets, and every
 * rendered document is validated with the kubernetes-models validators; the defaults
 * must render the same objects as deploy/kubernetes/ (labels aside); key invariants and
 * the renderer's subset are checked too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseFunctionSpec } from '../src/core/index.js';
import { functionObjects } from '../src/providers/kubernetes/manifests.js';
import { mergeValues, renderChart, renderString, TemplateError, type RenderOptions } from './helm-render.js';
import { CLUSTER_SCOPED, selects, validateObject, type KubeObject } from './kubernetes-validate.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHART = join(ROOT, 'deploy', 'helm', 'kube-serverless');
const PLAIN = join(ROOT, 'deploy', 'kubernetes');

type Obj = KubeObject & Record<string, any>;

function parseDocs(text: string, where: string): Obj[] {
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(text)) {
    assert.equal(doc.errors.length, 0, `${where}: ${doc.errors.join('; ')}\n${text}`);
    const obj = doc.toJS() as Obj | null;
    if (obj) out.push(obj);
  }
  return out;
}

/** Renders the chart, parses and validates every document, checks the invariants every value set must keep. */
function render(options: RenderOptions = {}): { docs: Obj[]; notes: string } {
  const release = { name: 'kss', namespace: 'kube-serverless', ...options.release };
  const r = renderChart(CHART, { ...options, release });
  const docs = [...r.manifests].flatMap(([file, text]) => parseDocs(text, file));
  const fnNs = (r.values.functions as { namespace: string }).namespace;
  const seen = new Set<string>();
  for (const o of docs) {
    assert.doesNotThrow(() => validateObject(o), (e: unknown) => `${(e as Error).message}`);
    const id = `${o.kind}/${o.metadata!.namespace ?? ''}/${o.metadata!.name}`;
    assert.ok(!seen.has(id), `${id} rendered twice`);
    seen.add(id);
    if (CLUSTER_SCOPED.has(o.kind!)) assert.equal(o.metadata!.namespace, undefined, `${id} is cluster-scoped`);
    else assert.ok([release.namespace, fnNs].includes(o.metadata!.namespace!), `${id}: namespace ${o.metadata!.namespace}`);
    assert.equal(o.metadata!.labels?.['app.kubernetes.io/part-of'], 'kube-serverless', `${id}: no part-of label`);
    // RBAC: no wildcards, no cluster-admin.
    for (const rule of (o.rules as Array<Record<string, string[]>> | undefined) ?? []) {
      for (const k of ['verbs', 'resources', 'apiGroups']) assert.ok(!(rule[k] ?? []).includes('*'), `${id}: * in ${k}`);
    }
    if (o.roleRef) assert.ok(!['cluster-admin', 'admin', 'edit'].includes(o.roleRef.name), `${id} binds ${o.roleRef.name}`);
  }
  for (const o of docs.filter((d) => d.kind === 'ClusterRole')) {
    assert.deepEqual(o.rules, [{ apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], resourceNames: ['functions.serverless.kube.io'], verbs: ['get'] }]);
  }
  // The gateway's own namespace: the leader-election Lease and the API-token Secrets, nothing else.
  const own = docs.find((d) => d.kind === 'Role' && d.metadata!.namespace === release.namespace)!;
  assert.deepEqual(own.rules, [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
  ]);
  // Every binding names the gateway's ServiceAccount and a role the chart renders.
  const sa = docs.find((d) => d.kind === 'ServiceAccount')!;
  for (const b of docs.filter((d) => d.kind!.endsWith('Binding'))) {
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa.metadata!.name, namespace: release.namespace }]);
    assert.ok(docs.some((d) => d.kind === b.roleRef.kind && d.metadata!.name === b.roleRef.name && (d.kind === 'ClusterRole' || d.metadata!.namespace === b.metadata!.namespace)), `${b.metadata!.name}: role not rendered`);
  }
  // The gateway's Service, PDB and policies select its pods; the pods mount the admin Secret.
  const gw = gateway(docs);
  const podLabels = gw.spec.template.metadata.labels;
  assert.ok(selects(gw.spec.selector.matchLabels, podLabels));
  assert.ok(selects(docs.find((d) => d.kind === 'Service')!.spec.selector, podLabels));
  for (const pdb of docs.filter((d) => d.kind === 'PodDisruptionBudget')) assert.ok(selects(pdb.spec.selector.matchLabels, podLabels));
  assert.equal(gw.spec.template.spec.serviceAccountName, sa.metadata!.name);
  return { docs, notes: r.notes };
}

const gateway = (docs: Obj[]): Obj => docs.find((d) => d.kind === 'Deployment')!;
const env = (docs: Obj[]): Record<string, string> => Object.fromEntries(gateway(docs).spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
const kindCount = (docs: Obj[], kind: string): number => docs.filter((d) => d.kind === kind).length;

/** Without labels that only the chart sets (metadata.labels, app.kubernetes.io/instance) or only it passes (runtime images). */
function normalize(v: unknown, top = true): unknown {
  if (Array.isArray(v)) return v.filter((e) => !(e && typeof e === 'object' && /^KSS_RUNTIME_IMAGE_/.test((e as { name?: string }).name ?? ''))).map((e) => normalize(e, false));
  if (!v || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(v)) {
    if (k === 'app.kubernetes.io/instance') continue;
    out[k] = k === 'metadata' && top ? { ...(e as object), labels: undefined } : normalize(e, false);
  }
  return out;
}

test('renderer: trimming, comments, output of values', () => {
  assert.equal(renderString('a  {{- .x -}}  \n b', { x: 1 }), 'a1b');
  assert.equal(renderString('a {{ .x }} b', { x: true }), 'a true b');
  assert.equal(renderString('{{/* a comment */}}x {{- /* trimmed */ -}} y', {}), 'xy');
  assert.equal(renderString('{{ .a.b }}|{{ .n }}|{{ .s | quote }}|{{ .z | quote }}', { a: { b: 'v' }, n: 3, s: 'say "hi"', z: null }), 'v|3|"say \\"hi\\""|');
  assert.equal(renderString('{{ .a | default "d" }} {{ .b | default "d" }}', { a: '', b: 'set' }), 'd set');
  assert.equal(renderString('{{ "kube-serverless-" | trunc 15 | trimSuffix "-" }} {{ "abc" | b64enc }}', {}), 'kube-serverless YWJj');
});

test('renderer: range over maps is sorted by key as in Helm; lists give index and element; . and $ rebinding', () => {
  assert.equal(renderString('{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, c: 3, a: 1 } }), 'a=1;b=2;c=3;');
  assert.equal(renderString('{{ range .m }}{{ . }}{{ end }}', { m: { z: 1, a: 2 } }), '21');
  assert.equal(renderString('{{ range $i, $e := .l }}{{ $i }}{{ $e.n }}{{ $.t }} {{ end }}', { l: [{ n: 'a' }, { n: 'b' }], t: 'T' }), '0aT 1bT ');
  assert.equal(renderString('{{ range .l }}x{{ end }}{{ range .m }}y{{ end }}', { l: [], m: {} }), '');
  assert.equal(renderString('{{ with .w }}{{ .n }}{{ else }}none{{ end }}|{{ with .e }}x{{ else }}none{{ end }}', { w: { n: 5 }, e: {} }), '5|none');
});

test('renderer: if/else if/else with not, and, or, eq, ne; define and include', () => {
  const t = '{{ if and .a (eq .b "x") }}A{{ else if or .c (not .d) }}C{{ else }}E{{ end }}';
  assert.equal(renderString(t, { a: 1, b: 'x', c: 0, d: 1 }), 'A');
  assert.equal(renderString(t, { a: 0, b: 'x', c: 0, d: 0 }), 'C');
  assert.equal(renderString(t, { a: 0, b: 'x', c: 0, d: 1 }), 'E');
  assert.equal(renderString('{{ if ne .a "x" }}y{{ end }}{{ if .l }}L{{ end }}', { a: 'z', l: [] }), 'y');
  // and/or short-circuit, as in Go: the required is not reached.
  assert.equal(renderString('{{ if and .a (required "no" .b) }}x{{ end }}', { a: false, b: '' }), '');
  const defines = new Map();
  renderString('{{- define "lbl" -}}app: {{ .name }}\nv: "1"{{- end -}}', {}, defines);
  assert.equal(renderString('m:\n  labels:\n    {{- include "lbl" .x | nindent 4 }}\n', { x: { name: 'gw' } }, defines), 'm:\n  labels:\n    app: gw\n    v: "1"\n');
  assert.equal(renderString('{{ include "lbl" . | indent 2 }}', { name: 'a' }, defines), '  app: a\n  v: "1"');
});

test('renderer: toYaml sorts keys and composes with nindent', () => {
  assert.equal(renderString('r:{{ toYaml .r | nindent 2 }}', { r: { requests: { memory: '1Mi', cpu: '1' }, limits: { memory: '2Mi' } } }), 'r:\n  limits:\n    memory: 2Mi\n  requests:\n    cpu: "1"\n    memory: 1Mi');
  assert.equal(renderString('{{ toYaml .l }}', { l: [{ a: 1 }] }), '- a: 1');
});

test('renderer: unsupported constructs and empty required values fail with a clear message', () => {
  const fails: Array<[string, RegExp]> = [
    ['{{ .a | upper }}', /inline:1: unsupported function or keyword "upper"/],
    ['{{ $x := .a }}', /variable assignment is outside the subset/],
    ['{{ template "x" . }}', /\{\{ template \}\} is outside the subset/],
    ['{{ range .l }}{{ else }}{{ end }}', /else \}\} in range is outside the subset/],
    ['{{ `raw` }}', /unsupported syntax "`raw`"/],
    ['{{ lookup "v1" "Secret" "ns" "n" }}', /unsupported function or keyword "lookup"/],
    ['{{ .Capabilities.KubeVersion }}', /no "Capabilities"/],
    ['{{ .a.typo }}', /no "typo" in \.a/],
    ['{{ .l }}', /cannot print a list as text \(pipe it to toYaml\)/],
    ['{{ if .a }}x', /\{\{ if \}\} without \{\{ end \}\}/],
    ['x\n{{ end }}', /inline:2: \{\{ end \}\} without an open/],
    ['{{ .a }', /unclosed action/],
    ['{{ include "nope" . }}', /no such define/],
    ['{{ quote }}', /quote wants 1 argument/],
    ['{{ required "nats.url is required" .a.b }}', /inline:1: nats\.url is required/],
    ['{{ fail "bad value" }}', /inline:1: bad value/],
  ];
  for (const [src, re] of fails) {
    assert.throws(() => renderString(src, { a: { b: '' }, l: [1] }), (e: unknown) => e instanceof TemplateError && re.test((e as Error).message), src);
  }
});

test('values merge as in Helm: maps merge ({} keeps the defaults), other values replace, null clears', () => {
  const base = { a: { x: 1, y: { z: 2 } }, l: [1, 2], m: { k: 'v' } };
  assert.deepEqual(mergeValues(base, { a: { y: { w: 3 } }, l: [3], m: {} }), { a: { x: 1, y: { z: 2, w: 3 } }, l: [3], m: { k: 'v' } });
  assert.deepEqual(mergeValues(base, { m: null }), { ...base, m: null });
  assert.equal(renderString('{{ with .m }}x{{ else }}cleared{{ end }}', mergeValues(base, { m: null })), 'cleared');
});

test('Chart.yaml and the CRD copy: identical to deploy/kubernetes/crd.yaml, a valid CRD', () => {
  const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'));
  assert.deepEqual({ apiVersion: chart.apiVersion, name: chart.name, version: chart.version, appVersion: chart.appVersion, kubeVersion: chart.kubeVersion }, { apiVersion: 'v2', name: 'kube-serverless', version: '0.1.0', appVersion: '0.1.0', kubeVersion: '>=1.25.0-0' });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(chart.appVersion, pkg.version, 'appVersion follows package.json');
  const copy = readFileSync(join(CHART, 'crds', 'functions.serverless.kube.io.yaml'), 'utf8');
  assert.equal(copy, readFileSync(join(PLAIN, 'crd.yaml'), 'utf8'), 'crds/ copy differs: cp deploy/kubernetes/crd.yaml deploy/helm/kube-serverless/crds/functions.serverless.kube.io.yaml');
  const [crd] = parseDocs(copy, 'crds/');
  validateObject(crd!);
  assert.equal(crd!.metadata!.name, 'functions.serverless.kube.io');
});

test('default values render the objects of deploy/kubernetes/ (labels aside), all valid', () => {
  const { docs } = render();
  const plain = ['namespace.yaml', 'gateway.yaml', 'network-policies.yaml'].flatMap((f) => parseDocs(readFileSync(join(PLAIN, f), 'utf8'), f));
  const key = (o: Obj) => `${o.kind}/${o.metadata!.namespace ?? ''}/${o.metadata!.name}`;
  const chartByKey = new Map(docs.map((o) => [key(o), o]));
  // The release namespace is Helm's (--create-namespace); the chart adds the admin Secret.
  const expected = plain.filter((o) => !(o.kind === 'Namespace' && o.metadata!.name === 'kube-serverless'));
  assert.deepEqual([...chartByKey.keys()].filter((k) => !k.startsWith('Secret/')).sort(), expected.map(key).sort());
  for (const o of expected) assert.deepEqual(normalize(chartByKey.get(key(o))), normalize(o), key(o));
  assert.equal(kindCount(docs, 'Ingress'), 0);
  assert.equal(kindCount(docs, 'Secret'), 1);
  // Labels the plain manifests' objects carry are kept.
  for (const o of expected) {
    const labels = chartByKey.get(key(o))!.metadata!.labels!;
    for (const [k, v] of Object.entries(o.metadata!.labels ?? {})) assert.equal(labels[k], v, `${key(o)}: label ${k}`);
  }
  // The function-namespace policies select the function pods the provider makes.
  const fnPod = (functionObjects(parseFunctionSpec({ service: 'f', image: 'x/y:1' }))[0] as unknown as Obj).spec.template.metadata.labels;
  for (const np of docs.filter((d) => d.kind === 'NetworkPolicy' && d.metadata!.namespace === 'openfaas-fn' && d.spec.podSelector.matchLabels)) assert.ok(selects(np.spec.podSelector.matchLabels, fnPod), np.metadata!.name);
});

test('images, replicas, NATS, Prometheus and PDB come from values', () => {
  const { docs } = render({
    values: {
      images: { gateway: { registry: 'registry.local:5000', repository: 'kss/gw', tag: '9.9.9', pullPolicy: 'Always' }, runtimes: { python: { tag: '1.2.3' }, go: { registry: 'quay.io' } } },
      gateway: { replicas: 3, resources: { requests: { cpu: '250m' } } },
      nats: { url: 'nats://nats.messaging:4222' },
      prometheus: { scrape: false },
      podDisruptionBudget: { minAvailable: 2 },
    },
  });
  const gw = gateway(docs);
  assert.equal(gw.spec.replicas, 3);
  const pod = gw.spec.template.spec;
  for (const c of [...pod.containers, ...pod.initContainers]) {
    assert.equal(c.image, 'registry.local:5000/kss/gw:9.9.9');
    assert.equal(c.imagePullPolicy, 'Always');
  }
  assert.deepEqual(pod.containers[0].resources, { requests: { cpu: '250m', memory: '128Mi' }, limits: { memory: '512Mi' } });
  const e = env(docs);
  assert.equal(e.KSS_QUEUE, 'nats://nats.messaging:4222');
  assert.equal(e.KSS_RUNTIME_IMAGE_NODE, 'ghcr.io/kube-serverless/runtime-node:0.1.0');
  assert.equal(e.KSS_RUNTIME_IMAGE_PYTHON, 'ghcr.io/kube-serverless/runtime-python:1.2.3');
  assert.equal(e.KSS_RUNTIME_IMAGE_GO, 'quay.io/kube-serverless/runtime-go:0.1.0');
  assert.equal(e.KSS_RUNTIME_IMAGE_HTTP, 'ghcr.io/kube-serverless/runtime-http:0.1.0');
  assert.equal(gw.spec.template.metadata.annotations, undefined, 'scrape annotations with prometheus.scrape=false');
  assert.equal(docs.find((d) => d.kind === 'PodDisruptionBudget')!.spec.minAvailable, 2);
  assert.equal(kindCount(render({ values: { gateway: { replicas: 1 }, podDisruptionBudget: { enabled: false } } }).docs, 'PodDisruptionBudget'), 0);
  // Defaults: 2 replicas, scrape annotations on.
  const def = gateway(render().docs);
  assert.equal(def.spec.replicas, 2);
  assert.equal(def.spec.template.metadata.annotations['prometheus.io/scrape'], 'true');
});

test('auth: an existing Secret, a chart-made Secret with a given password, or one generated once on install', () => {
  const secretName = (docs: Obj[]) => gateway(docs).spec.template.spec.volumes.find((v: { name: string }) => v.name === 'admin').secret.secretName;
  const existing = render({ values: { auth: { existingSecret: 'my-admin' } } }).docs;
  assert.equal(kindCount(existing, 'Secret'), 0);
  assert.equal(secretName(existing), 'my-admin');

  const given = render({ values: { auth: { username: 'root', password: 's3cret!' } } }).docs;
  const s1 = given.find((d) => d.kind === 'Secret')!;
  assert.equal(s1.metadata!.name, secretName(given));
  assert.equal(Buffer.from(s1.data['basic-auth-user'], 'base64').toString(), 'root');
  assert.equal(Buffer.from(s1.data['basic-auth-password'], 'base64').toString(), 's3cret!');
  assert.equal(s1.metadata!.annotations, undefined, 'a given password is a normal (upgradable) Secret');

  const generated = render().docs;
  const s2 = generated.find((d) => d.kind === 'Secret')!;
  assert.equal(s2.metadata!.name, 'kube-serverless-admin');
  assert.equal(s2.metadata!.annotations!['helm.sh/hook'], 'pre-install', 'generated once, not on each upgrade');
  assert.equal(Buffer.from(s2.data['basic-auth-user'], 'base64').toString(), 'admin');
  const password = Buffer.from(s2.data['basic-auth-password'], 'base64').toString();
  assert.match(password, /^[A-Za-z0-9]{32}$/);
  const again = Buffer.from(render().docs.find((d) => d.kind === 'Secret')!.data['basic-auth-password'], 'base64').toString();
  assert.notEqual(again, password, 'random');
});

test('networkPolicies: off renders none; restricted egress drops allow-all and adds extra rules', () => {
  assert.equal(kindCount(render({ values: { networkPolicies: { enabled: false } } }).docs, 'NetworkPolicy'), 0);
  const names = (docs: Obj[]) => docs.filter((d) => d.kind === 'NetworkPolicy').map((d) => d.metadata!.name).sort();
  assert.deepEqual(names(render().docs), ['kss-function-default-deny', 'kss-function-egress-all', 'kss-function-egress-dns-and-gateway', 'kss-function-ingress-from-gateway', 'kss-gateway-ingress', 'kss-nats-from-gateway']);
  assert.deepEqual(names(render({ values: { networkPolicies: { functionEgress: 'restricted' } } }).docs), ['kss-function-default-deny', 'kss-function-egress-dns-and-gateway', 'kss-function-ingress-from-gateway', 'kss-gateway-ingress', 'kss-nats-from-gateway']);
  const extra = [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ protocol: 'TCP', port: 5432 }] }];
  const r = render({ values: { networkPolicies: { functionEgress: 'restricted', extraFunctionEgress: extra, nats: { enabled: false } } } }).docs;
  assert.deepEqual(r.find((d) => d.metadata!.name === 'kss-function-egress-extra')!.spec.egress, extra);
  assert.ok(!names(r).includes('kss-nats-from-gateway'));
  assert.throws(() => render({ values: { networkPolicies: { functionEgress: 'none' } } }), /networkPolicies\.functionEgress: use all or restricted/);
});

test('ingress: on with a class, host and TLS, routed to the gateway Service', () => {
  const { docs, notes } = render({ values: { ingress: { enabled: true, host: 'faas.example.com', tls: { enabled: true } } } });
  const ing = docs.find((d) => d.kind === 'Ingress')!;
  const svc = docs.find((d) => d.kind === 'Service')!;
  assert.equal(ing.spec.ingressClassName, 'nginx');
  assert.deepEqual(ing.spec.tls, [{ hosts: ['faas.example.com'], secretName: 'kube-serverless-tls' }]);
  assert.equal(ing.spec.rules[0].host, 'faas.example.com');
  assert.equal(ing.spec.rules[0].http.paths[0].backend.service.name, svc.metadata!.name);
  assert.equal(ing.metadata!.annotations!['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600');
  // The same as the example in deploy/kubernetes/ (labels aside).
  const [example] = parseDocs(readFileSync(join(PLAIN, 'ingress.example.yaml'), 'utf8'), 'ingress.example.yaml');
  assert.deepEqual(normalize(ing), normalize(example));
  assert.match(notes, /KSS_GATEWAY=https:\/\/faas\.example\.com/);
  const plainHttp = render({ values: { ingress: { enabled: true, host: 'h.example', className: '', annotations: null } } }).docs.find((d) => d.kind === 'Ingress')!;
  assert.equal(plainHttp.spec.tls, undefined);
  assert.equal(plainHttp.spec.ingressClassName, undefined);
  assert.equal(plainHttp.metadata!.annotations, undefined);
});

test('a custom release namespace and functions namespace: everything is namespaced and wired to them', () => {
  const { docs, notes } = render({ release: { name: 'prod', namespace: 'faas' }, values: { functions: { namespace: 'fn-prod', createNamespace: false }, fullnameOverride: 'acme' } });
  assert.equal(kindCount(docs, 'Namespace'), 0);
  const gw = gateway(docs);
  assert.equal(gw.metadata!.name, 'acme-gateway');
  assert.equal(gw.metadata!.namespace, 'faas');
  assert.equal(env(docs).KSS_FUNCTION_NAMESPACE, 'fn-prod');
  const roles = docs.filter((d) => d.kind === 'Role').map((d) => d.metadata!.namespace).sort();
  assert.deepEqual(roles, ['faas', 'fn-prod']);
  for (const np of docs.filter((d) => d.kind === 'NetworkPolicy')) {
    for (const rule of [...(np.spec.ingress ?? []), ...(np.spec.egress ?? [])]) {
      for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])]) {
        const ns = peer.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'];
        if (peer.podSelector && ns) assert.equal(ns, 'faas', np.metadata!.name);
        if (peer.podSelector?.matchLabels['app.kubernetes.io/name']?.endsWith('-gateway')) assert.ok(selects(peer.podSelector.matchLabels, gw.spec.template.metadata.labels));
      }
    }
  }
  assert.ok(docs.filter((d) => d.kind === 'NetworkPolicy' && d.metadata!.namespace === 'fn-prod').length >= 3);
  assert.equal(docs.find((d) => d.kind === 'ClusterRole')!.metadata!.name, 'acme-gateway-crd-reader');
  assert.match(notes, /kubectl -n faas get secret acme-admin/);
  assert.match(notes, /kubectl -n fn-prod get functions/);
});

test('values the chart cannot do without fail with a clear message', () => {
  assert.throws(() => render({ values: { nats: { url: '' } } }), /templates\/deployment\.yaml:\d+: nats\.url is required/);
  assert.throws(() => render({ values: { ingress: { enabled: true } } }), /templates\/ingress\.yaml:\d+: ingress\.host is required when ingress\.enabled is true/);
  assert.throws(() => render({ values: { auth: { username: '' } } }), /auth\.username is required/);
  assert.throws(() => render({ release: { namespace: 'openfaas-fn' } }), /functions\.namespace must differ from the release namespace/);
});

test('a template outside the subset is refused, naming the file and line', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kss-chart-'));
  try {
    cpSync(CHART, tmp, { recursive: true });
    writeFileSync(join(tmp, 'templates', 'extra.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name | upper }}\n');
    assert.throws(() => renderChart(tmp), /templates\/extra\.yaml:4: unsupported function or keyword "upper"/);
    writeFileSync(join(tmp, 'templates', 'extra.yaml'), '{{ $s := lookup "v1" "Secret" .Release.Namespace "x" }}\n');
    assert.throws(() => renderChart(tmp), /templates\/extra\.yaml:1: .*variable assignment is outside the subset/);
    // A typo in a value name is an error (Helm would render an empty field).
    writeFileSync(join(tmp, 'templates', 'extra.yaml'), 'replicas: {{ .Values.gateway.replicaz }}\n');
    assert.throws(() => renderChart(tmp), /templates\/extra\.yaml:1: \.Values\.gateway\.replicaz: no "replicaz" in \.Values\.gateway/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('NOTES.txt and README: how to reach, log in and deploy; every value documented', () => {
  const { notes } = render();
  assert.match(notes, /kubectl -n kube-serverless port-forward svc\/gateway 8080:8080/);
  assert.match(notes, /get secret kube-serverless-admin -o jsonpath='\{\.data\.basic-auth-password\}' \| base64 -d/);
  assert.match(notes, /kss login --password-stdin/);
  assert.match(notes, /faas-cli login/);
  const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
  assert.match(readme, /helm install kss deploy\/helm\/kube-serverless -n kube-serverless --create-namespace/);
  assert.match(readme.replace(/\n>? */g, ' '), /not by Helm itself/);
  // Every key of values.yaml is in the README's values table (a map documented as a whole covers its keys).
  const documented = new Set([...readme.matchAll(/^\| `([\w.]+)` \|/gm)].map((m) => m[1]!));
  const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const missing: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (path && documented.has(path)) return;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) for (const [k, e] of Object.entries(v)) walk(e, path ? `${path}.${k}` : k);
    else missing.push(path);
  };
  walk(values, '');
  assert.deepEqual(missing, [], 'values not in the README table');
  for (const k of documented) {
    let cur: unknown = values;
    for (const part of k.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[part];
    assert.notEqual(cur, undefined, `README documents ${k}, which is not in values.yaml`);
  }
});
