import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { V1Deployment, V1Service, V2HorizontalPodAutoscaler, V1Container } from '@kubernetes/client-node';
import { isKssError, parseFunctionSpec, RUNTIMES, type FunctionSpec } from '../../core/index.js';
import { selects, validateObject } from '../../../test/kubernetes-validate.js';
import {
  CODE_ARCHIVE_LIMIT,
  CODE_PARTS_LABEL,
  codeConfigMaps,
  codePartKey,
  codePartName,
  CONFIGMAP_CODE_LIMIT,
  functionObjects,
  podVolumeName,
  SECRETS_MOUNT_PATH,
  SPEC_HASH_ANNOTATION,
  volumeClaimName,
  volumeClaims,
  type FunctionObject,
  type FunctionObjectsOptions,
} from './manifests.js';
import { FUNCTION_LABEL, MANAGED_BY_LABEL, OPENFAAS_FUNCTION_LABEL } from './function-resource.js';

const digest = `sha256:${'a'.repeat(64)}`;
const owner = { apiVersion: 'serverless.kube.io/v1', kind: 'Function', name: 'fn', uid: '6f1c2a3e-0000-4000-8000-000000000001' };

function spec(fields: Record<string, unknown>): FunctionSpec {
  return parseFunctionSpec({ service: 'fn', ...fields }, { version: '0.1.0' });
}

function parts(objects: FunctionObject[]) {
  const deployment = objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  const service = objects.find((o) => o.kind === 'Service') as V1Service;
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as V2HorizontalPodAutoscaler | undefined;
  const container = deployment.spec!.template.spec!.containers[0] as V1Container;
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
  return { deployment, service, hpa, container, env };
}

/** The matrix: each runtime with code (both deliveries), image-only exec, and the optional features. */
const MATRIX: Array<{ name: string; spec: FunctionSpec; options: FunctionObjectsOptions }> = [
  ...RUNTIMES.flatMap((runtime) => [
    { name: `${runtime} + configmap code`, spec: spec({ runtime, code: digest, ...(runtime === 'exec' || runtime === 'http' ? { envProcess: 'cat' } : {}) }), options: { owner, code: { kind: 'configmap' as const, name: 'fn-code' } } },
    { name: `${runtime} + configmap code in 5 parts`, spec: spec({ runtime, code: digest, ...(runtime === 'exec' || runtime === 'http' ? { envProcess: 'cat' } : {}) }), options: { owner, code: { kind: 'configmap' as const, name: 'fn-code', parts: 5 } } },
    { name: `${runtime} + url code`, spec: spec({ runtime, code: digest, handler: 'src/handler' }), options: { owner, code: { kind: 'url' as const, url: 'http://gateway.kube-serverless:8080/system/code/abc' } } },
  ]),
  { name: 'image-only exec', spec: spec({ runtime: 'exec', image: 'ghcr.io/acme/wc:1.0', envProcess: 'wc -l' }), options: {} },
  { name: 'secrets', spec: spec({ runtime: 'exec', image: 'acme/x:1', secrets: ['api-key', 'db.password'] }), options: { owner } },
  { name: 'limits/requests', spec: spec({ image: 'acme/x:1', limits: { memory: '128Mi', cpu: '500m' }, requests: { memory: '64Mi', cpu: 0.1 } }), options: { owner, replicas: 3 } },
  { name: 'cpu scaling', spec: spec({ image: 'acme/x:1', requests: { cpu: '100m' }, annotations: { 'kss.scaling': 'cpu' }, labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '7', 'com.openfaas.scale.target': '60' } }), options: { owner } },
  { name: 'envVars + constraints', spec: spec({ image: 'acme/x:1', envVars: { A: '1', write_debug: 'true', PORT: '9999' }, constraints: ['kubernetes.io/arch=arm64', 'node.platform.os == linux'] }), options: {} },
  { name: 'writable root', spec: spec({ image: 'acme/x:1', readOnlyRootFilesystem: false, timeout: '2m' }), options: { replicas: 0 } },
  { name: 'volumes', spec: spec({ runtime: 'python', code: digest, annotations: { 'kss.volume': 'readings,models:ro', 'kss.volume.size': '5Gi' } }), options: { owner, code: { kind: 'configmap' as const, name: 'fn-code' } } },
];

for (const c of MATRIX) {
  test(`functionObjects validates with kubernetes-models: ${c.name}`, () => {
    const objects = functionObjects(c.spec, c.options);
    for (const o of objects) validateObject(o as never);
    const { deployment, service, container } = parts(objects);
    // Names, namespace, owner references.
    for (const o of objects) {
      assert.equal(o.metadata!.name, 'fn');
      assert.equal(o.metadata!.namespace, 'openfaas-fn');
      assert.equal(o.metadata!.labels![FUNCTION_LABEL], 'fn');
      assert.equal(o.metadata!.labels![OPENFAAS_FUNCTION_LABEL], 'fn');
      assert.equal(o.metadata!.labels![MANAGED_BY_LABEL], 'kube-serverless');
      if (c.options.owner) assert.deepEqual(o.metadata!.ownerReferences, [{ ...owner, controller: true, blockOwnerDeletion: true }]);
      else assert.equal(o.metadata!.ownerReferences, undefined);
    }
    // The selector picks the template's pods, and the Service the same pods.
    const podLabels = deployment.spec!.template.metadata!.labels!;
    assert.ok(selects(deployment.spec!.selector.matchLabels, podLabels));
    assert.ok(selects(service.spec!.selector, podLabels));
    assert.deepEqual(service.spec!.ports, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    assert.equal(service.spec!.type, 'ClusterIP');
    // Port, probes.
    assert.deepEqual(container.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    assert.equal(container.readinessProbe!.httpGet!.path, '/ready');
    assert.equal(container.readinessProbe!.httpGet!.port, 'http');
    assert.equal(container.livenessProbe!.httpGet!.path, '/health');
    assert.equal(container.livenessProbe!.httpGet!.port, 'http');
    assert.ok(container.livenessProbe!.periodSeconds! >= container.readinessProbe!.periodSeconds!);
    // Security.
    const sc = container.securityContext!;
    assert.equal(sc.runAsNonRoot, true);
    assert.equal(sc.runAsUser, 10001);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
    assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(sc.readOnlyRootFilesystem, c.spec.readOnlyRootFilesystem !== false);
    assert.equal(deployment.spec!.template.spec!.automountServiceAccountToken, false);
    assert.ok(container.volumeMounts!.some((m) => m.mountPath === '/tmp'));
    // Scrape annotations and the spec hash.
    const ann = deployment.spec!.template.metadata!.annotations!;
    assert.equal(ann['prometheus.io/scrape'], 'true');
    assert.equal(ann['prometheus.io/port'], '8080');
    assert.equal(ann['prometheus.io/path'], '/metrics');
    assert.match(ann[SPEC_HASH_ANNOTATION]!, /^[0-9a-f]{16}$/);
  });
}

test('runtime images: runtime image with code, the user image without', () => {
  for (const runtime of RUNTIMES) {
    const { container } = parts(functionObjects(spec({ runtime, code: digest }), { code: { kind: 'configmap', name: 'fn-code' }, version: '9.9.9' }));
    assert.equal(container.image, `ghcr.io/kube-serverless/runtime-${runtime}:9.9.9`);
  }
  const custom = parts(functionObjects(spec({ runtime: 'python', code: digest }), { code: { kind: 'configmap', name: 'fn-code' }, images: { python: 'registry.local/py:dev' } }));
  assert.equal(custom.container.image, 'registry.local/py:dev');
  const own = parts(functionObjects(spec({ runtime: 'exec', image: 'ghcr.io/acme/wc:1.0' }), { images: { exec: 'ignored' } }));
  assert.equal(own.container.image, 'ghcr.io/acme/wc:1.0');
});

test('environment: PORT, fprocess, KSS_* and envVars (platform names not replaced, no duplicates)', () => {
  const { env, container } = parts(functionObjects(spec({ runtime: 'exec', image: 'x/y:1', envProcess: 'wc -l', handler: 'bin/run', timeout: 30, envVars: { A: '1', PORT: '1', KSS_HANDLER: 'evil' } }), {}));
  assert.equal(env.PORT, '8080');
  assert.equal(env.fprocess, 'wc -l');
  assert.equal(env.KSS_FUNCTION_NAME, 'fn');
  assert.equal(env.KSS_HANDLER, 'bin/run');
  assert.equal(env.KSS_TIMEOUT_SECONDS, '30');
  assert.equal(env.exec_timeout, '30s');
  assert.equal(env.A, '1');
  const names = container.env!.map((e) => e.name);
  assert.equal(new Set(names).size, names.length, `duplicate env names: ${names.join(',')}`);
});

test('code from ConfigMaps: one projected volume of every part, read-only, KSS_CODE_PARTS_DIR/KSS_CODE_PARTS, writable code dir', () => {
  for (const n of [undefined, 1, 3]) {
    const objects = functionObjects(spec({ code: digest }), { code: { kind: 'configmap', name: 'fn-code', ...(n === undefined ? {} : { parts: n }) } });
    for (const o of objects) validateObject(o as never);
    const { env, deployment, container } = parts(objects);
    assert.equal(env.KSS_CODE_PARTS_DIR, '/var/kss/code');
    assert.equal(env.KSS_CODE_PARTS, String(n ?? 1));
    assert.equal(env.KSS_CODE_ARCHIVE, undefined, 'one contract: parts, one or many');
    assert.equal(env.KSS_CODE_URL, undefined);
    const vol = deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'code-archive')!;
    const names = ['fn-code', 'fn-code-1', 'fn-code-2'].slice(0, n ?? 1);
    assert.deepEqual(
      vol.projected!.sources,
      names.map((name, i) => ({ configMap: { name, items: [{ key: `code.tar.gz.part-00${i}`, path: `code.tar.gz.part-00${i}` }] } })),
    );
    const mount = container.volumeMounts!.find((m) => m.name === vol.name)!;
    assert.equal(mount.mountPath, '/var/kss/code');
    assert.equal(mount.readOnly, true);
    assert.ok(container.volumeMounts!.some((m) => m.mountPath === '/home/app/function'));
  }
  for (const bad of [0, 1.5, 74]) {
    assert.throws(() => functionObjects(spec({ code: digest }), { code: { kind: 'configmap', name: 'fn-code', parts: bad } }), (e) => isKssError(e) && /^code:/.test(e.message));
  }
});

test('code from a URL: KSS_CODE_URL, no ConfigMap volume', () => {
  const { env, deployment } = parts(functionObjects(spec({ code: digest }), { code: { kind: 'url', url: 'http://gw:8080/code/x' } }));
  assert.equal(env.KSS_CODE_URL, 'http://gw:8080/code/x');
  assert.equal(env.KSS_CODE_ARCHIVE, undefined);
  assert.ok(!deployment.spec!.template.spec!.volumes!.some((v) => v.configMap || v.name === 'code-archive'));
});

test('code without a delivery is refused, naming the field', () => {
  assert.throws(() => functionObjects(spec({ code: digest }), {}), (e) => isKssError(e) && /^code:/.test(e.message));
});

test('secrets: one projected volume, read-only at /var/openfaas/secrets', () => {
  const { deployment, container } = parts(functionObjects(spec({ image: 'x/y:1', secrets: ['api-key', 'db'] }), {}));
  const vol = deployment.spec!.template.spec!.volumes!.find((v) => v.projected)!;
  assert.deepEqual(vol.projected!.sources, [{ secret: { name: 'api-key' } }, { secret: { name: 'db' } }]);
  const mount = container.volumeMounts!.find((m) => m.name === vol.name)!;
  assert.equal(mount.mountPath, SECRETS_MOUNT_PATH);
  assert.equal(mount.readOnly, true);
  assert.throws(() => functionObjects(spec({ image: 'x/y:1', secrets: ['Not_A_Name'] })), (e) => isKssError(e) && /secrets\[0\]/.test(e.message));
});

test('resources: quantities passed through as written', () => {
  const { container } = parts(functionObjects(spec({ image: 'x/y:1', limits: { memory: '1Gi', cpu: '2' }, requests: { memory: '256Mi' } }), {}));
  assert.deepEqual(container.resources, { limits: { cpu: '2', memory: '1Gi' }, requests: { memory: '256Mi' } });
  const none = parts(functionObjects(spec({ image: 'x/y:1' }), {}));
  assert.equal(none.container.resources, undefined);
});

test('replicas: from options, else com.openfaas.scale.min', () => {
  assert.equal(parts(functionObjects(spec({ image: 'x/y:1' }), {})).deployment.spec!.replicas, 1);
  assert.equal(parts(functionObjects(spec({ image: 'x/y:1', labels: { 'com.openfaas.scale.min': '2' } }), {})).deployment.spec!.replicas, 2);
  assert.equal(parts(functionObjects(spec({ image: 'x/y:1' }), { replicas: 0 })).deployment.spec!.replicas, 0);
});

test('CPU scaling: an autoscaling/v2 HPA with min ≥ 1, the target from the label, replicas left to it', () => {
  const { hpa, deployment } = parts(functionObjects(spec({ image: 'x/y:1', requests: { cpu: '100m' }, annotations: { 'kss.scaling': 'cpu' }, labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '7', 'com.openfaas.scale.target': '60' } }), {}));
  assert.ok(hpa);
  assert.deepEqual(hpa.spec!.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'fn' });
  assert.equal(hpa.spec!.minReplicas, 1);
  assert.equal(hpa.spec!.maxReplicas, 7);
  assert.equal(hpa.spec!.metrics![0]!.resource!.target.averageUtilization, 60);
  assert.equal(deployment.spec!.replicas, undefined);
  const dflt = parts(functionObjects(spec({ image: 'x/y:1', requests: { cpu: '100m' }, annotations: { 'kss.scaling': 'cpu' } }), { replicas: 0 }));
  assert.equal(dflt.hpa!.spec!.metrics![0]!.resource!.target.averageUtilization, 80);
  assert.equal(dflt.deployment.spec!.replicas, 0);
  // No opt-in, no HPA; a bad value or no CPU request is refused naming the annotation.
  assert.equal(parts(functionObjects(spec({ image: 'x/y:1' }), {})).hpa, undefined);
  assert.throws(() => functionObjects(spec({ image: 'x/y:1', annotations: { 'kss.scaling': 'memory' } })), (e) => isKssError(e) && /annotations\.kss\.scaling/.test(e.message));
  assert.throws(() => functionObjects(spec({ image: 'x/y:1', annotations: { 'kss.scaling': 'cpu' } })), (e) => isKssError(e) && /requests\.cpu/.test(e.message));
});

test('labels: the user\'s on the pods, ours win, the selector is ours only; bad Kubernetes labels refused', () => {
  const { deployment } = parts(functionObjects(spec({ image: 'x/y:1', labels: { team: 'iot', [FUNCTION_LABEL]: 'other' } }), {}));
  assert.equal(deployment.spec!.template.metadata!.labels!.team, 'iot');
  assert.equal(deployment.spec!.template.metadata!.labels![FUNCTION_LABEL], 'fn');
  assert.deepEqual(deployment.spec!.selector.matchLabels, { [FUNCTION_LABEL]: 'fn' });
  assert.throws(() => functionObjects(spec({ image: 'x/y:1', labels: { team: 'has spaces' } })), (e) => isKssError(e) && /labels\.team/.test(e.message));
  assert.throws(() => functionObjects(spec({ image: 'x/y:1', constraints: ['no-equals'] })), (e) => isKssError(e) && /constraints\[0\]/.test(e.message));
});

test('constraints become the node selector', () => {
  const { deployment } = parts(functionObjects(spec({ image: 'x/y:1', constraints: ['kubernetes.io/arch=arm64', 'node.platform.os == linux'] }), {}));
  assert.deepEqual(deployment.spec!.template.spec!.nodeSelector, { 'kubernetes.io/arch': 'arm64', 'node.platform.os': 'linux' });
});

test('spec hash: same spec → same objects; any change (code digest included) → a new hash', () => {
  const opts: FunctionObjectsOptions = { code: { kind: 'configmap', name: 'fn-code' } };
  const a = functionObjects(spec({ code: digest }), opts);
  assert.deepEqual(functionObjects(spec({ code: digest }), opts), a);
  const hash = (o: FunctionObject[]) => parts(o).deployment.spec!.template.metadata!.annotations![SPEC_HASH_ANNOTATION];
  assert.notEqual(hash(functionObjects(spec({ code: `sha256:${'b'.repeat(64)}` }), opts)), hash(a));
  assert.notEqual(hash(functionObjects(spec({ code: digest, envVars: { A: '1' } }), opts)), hash(a));
  // A different number of parts (same digest) rolls them too.
  assert.notEqual(hash(functionObjects(spec({ code: digest }), { code: { kind: 'configmap', name: 'fn-code', parts: 2 } })), hash(a));
  // Replicas are not part of the pods: scaling never rolls them.
  assert.equal(hash(functionObjects(spec({ code: digest }), { ...opts, replicas: 5 })), hash(a));
});

test('codeConfigMaps: one part up to 900 KiB keeps the name fn-code, key code.tar.gz.part-000, owner, parts label', () => {
  const archive = Buffer.from('\x1f\x8b fake gzip');
  const cms = codeConfigMaps('fn', 'openfaas-fn', archive, owner);
  assert.equal(cms.length, 1);
  const cm = cms[0]!;
  validateObject(cm as never);
  assert.equal(cm.metadata!.name, 'fn-code');
  assert.equal(cm.metadata!.namespace, 'openfaas-fn');
  assert.deepEqual(Object.keys(cm.binaryData!), ['code.tar.gz.part-000']);
  assert.equal(Buffer.from(cm.binaryData![codePartKey(0)]!, 'base64').toString('latin1'), archive.toString('latin1'));
  assert.deepEqual(cm.metadata!.ownerReferences, [{ ...owner, controller: true, blockOwnerDeletion: true }]);
  assert.equal(cm.metadata!.labels![CODE_PARTS_LABEL], '1');
  assert.equal(cm.metadata!.labels![FUNCTION_LABEL], 'fn');
  assert.equal(CONFIGMAP_CODE_LIMIT, 900 * 1024);
  assert.equal(codeConfigMaps('fn', 'openfaas-fn', Buffer.alloc(CONFIGMAP_CODE_LIMIT)).length, 1);
  assert.equal(codeConfigMaps('fn', 'openfaas-fn', Buffer.alloc(0)).length, 1, 'an empty archive still has its part');
});

test('codeConfigMaps: a big archive is split in ≤ 900 KiB parts, named and keyed in order, that concatenate back to it', () => {
  const archive = randomBytes(2 * CONFIGMAP_CODE_LIMIT + 12345);
  const cms = codeConfigMaps('fn', 'openfaas-fn', archive, owner);
  assert.deepEqual(cms.map((c) => c.metadata!.name), ['fn-code', 'fn-code-1', 'fn-code-2']);
  assert.deepEqual(cms.map((c) => Object.keys(c.binaryData!)), [['code.tar.gz.part-000'], ['code.tar.gz.part-001'], ['code.tar.gz.part-002']]);
  const bytes = cms.map((c, i) => Buffer.from(c.binaryData![codePartKey(i)]!, 'base64'));
  assert.deepEqual(bytes.map((b) => b.length), [CONFIGMAP_CODE_LIMIT, CONFIGMAP_CODE_LIMIT, 12345]);
  assert.ok(Buffer.concat(bytes).equals(archive), 'the parts in order are the archive');
  // Each within the 1 MiB a ConfigMap holds (decoded bytes, ValidateConfigMap's measure), valid, labelled, owned.
  for (const [i, cm] of cms.entries()) {
    validateObject(cm as never);
    assert.ok(bytes[i]!.length <= 1024 * 1024);
    assert.equal(cm.metadata!.labels![FUNCTION_LABEL], 'fn');
    assert.equal(cm.metadata!.labels![MANAGED_BY_LABEL], 'kube-serverless');
    assert.equal(cm.metadata!.labels![CODE_PARTS_LABEL], i === 0 ? '3' : undefined, 'the count on the first part only');
    assert.deepEqual(cm.metadata!.ownerReferences, [{ ...owner, controller: true, blockOwnerDeletion: true }]);
  }
  // Name order of the keys is part order, past 10 parts too (zero-padded).
  const keys = Array.from({ length: 12 }, (_, i) => codePartKey(i));
  assert.deepEqual([...keys].sort(), keys);
  assert.equal(codePartKey(11), 'code.tar.gz.part-011');
  assert.equal(codePartName('fn-code', 0), 'fn-code');
  assert.equal(codePartName('fn-code', 11), 'fn-code-11');
  // Exactly n × 900 KiB is n parts, one byte more is n + 1.
  assert.equal(codeConfigMaps('fn', 'openfaas-fn', Buffer.alloc(2 * CONFIGMAP_CODE_LIMIT)).length, 2);
  assert.equal(codeConfigMaps('fn', 'openfaas-fn', Buffer.alloc(2 * CONFIGMAP_CODE_LIMIT + 1)).length, 3);
});

test('codeConfigMaps: up to the 64 MiB cap; above it 413 naming the size and the cap', () => {
  assert.equal(CODE_ARCHIVE_LIMIT, 64 * 1024 * 1024);
  const max = codeConfigMaps('fn', 'openfaas-fn', Buffer.alloc(CODE_ARCHIVE_LIMIT));
  assert.equal(max.length, 73);
  assert.equal(max.at(-1)!.metadata!.name, 'fn-code-72');
  // The Deployment projecting all 73 is valid.
  const objects = functionObjects(spec({ code: digest }), { code: { kind: 'configmap', name: 'fn-code', parts: max.length } });
  for (const o of objects) validateObject(o as never);
  const vol = parts(objects).deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'code-archive')!;
  assert.deepEqual(vol.projected!.sources!.map((s) => s.configMap!.name), max.map((c) => c.metadata!.name));
  assert.throws(
    () => codeConfigMaps('fn', 'openfaas-fn', Buffer.alloc(CODE_ARCHIVE_LIMIT + 1)),
    (e) => isKssError(e) && e.code === 'KSS_PAYLOAD_TOO_LARGE' && e.message.includes(String(CODE_ARCHIVE_LIMIT + 1)) && e.message.includes(String(CODE_ARCHIVE_LIMIT)) && /64 MiB/.test(e.message),
  );
});

test('volumes (kss.volume): a PersistentVolumeClaim each, mounted at /var/kss/volumes/NAME (readOnly for :ro), KSS_VOLUME_*, fsGroup', () => {
  const s = spec({ runtime: 'python', code: digest, annotations: { 'kss.volume': 'gas-readings,models:ro', 'kss.volume.size': '5Gi' } });
  const objects = functionObjects(s, { owner, code: { kind: 'configmap', name: 'fn-code' } });
  for (const o of objects) validateObject(o as never);
  const { deployment, container, env } = parts(objects);
  const pod = deployment.spec!.template.spec!;
  assert.deepEqual(pod.volumes!.filter((v) => v.persistentVolumeClaim), [
    { name: 'volume-gas-readings', persistentVolumeClaim: { claimName: 'kss-volume-gas-readings' } },
    { name: 'volume-models', persistentVolumeClaim: { claimName: 'kss-volume-models', readOnly: true } },
  ]);
  assert.deepEqual(container.volumeMounts!.filter((m) => m.name.startsWith('volume-')), [
    { name: 'volume-gas-readings', mountPath: '/var/kss/volumes/gas-readings' },
    { name: 'volume-models', mountPath: '/var/kss/volumes/models', readOnly: true },
  ]);
  assert.equal(env.KSS_VOLUME_GAS_READINGS, '/var/kss/volumes/gas-readings');
  assert.equal(env.KSS_VOLUME_MODELS, '/var/kss/volumes/models');
  assert.equal(pod.securityContext!.fsGroup, 10001);
  assert.equal(pod.securityContext!.fsGroupChangePolicy, 'OnRootMismatch');
  // A user's envVars cannot move a volume.
  const forged = parts(functionObjects(spec({ image: 'a/b:1', envVars: { KSS_VOLUME_X: '/etc' }, annotations: { 'kss.volume': 'x' } }), {}));
  assert.deepEqual(forged.container.env!.filter((e) => e.name === 'KSS_VOLUME_X'), [{ name: 'KSS_VOLUME_X', value: '/var/kss/volumes/x' }]);
  // Without volumes: no claim, no fsGroupChangePolicy (the pod spec, and so its hash, is as before).
  const plain = parts(functionObjects(spec({ image: 'a/b:1' }), {}));
  assert.equal(plain.deployment.spec!.template.spec!.securityContext!.fsGroupChangePolicy, undefined);
  assert.ok(!plain.deployment.spec!.template.spec!.volumes!.some((v) => v.persistentVolumeClaim));
  // A volume change rolls the pods.
  const hash = (x: FunctionObject[]) => parts(x).deployment.spec!.template.metadata!.annotations![SPEC_HASH_ANNOTATION];
  assert.notEqual(hash(functionObjects(spec({ image: 'a/b:1', annotations: { 'kss.volume': 'x' } }), {})), hash(functionObjects(spec({ image: 'a/b:1', annotations: { 'kss.volume': 'x:ro' } }), {})));
});

test('volume claims: ReadWriteMany, sized by kss.volume.size (default 1Gi), labelled, owned by no Function; valid objects', () => {
  const claims = volumeClaims(spec({ image: 'a/b:1', annotations: { 'kss.volume': 'readings,models:ro', 'kss.volume.size': '5Gi' } }));
  assert.deepEqual(claims.map((c) => c.metadata!.name), ['kss-volume-readings', 'kss-volume-models']);
  for (const c of claims) {
    validateObject(c as never);
    assert.equal(c.metadata!.namespace, 'openfaas-fn');
    assert.equal(c.metadata!.ownerReferences, undefined, 'deleting a function keeps the data');
    assert.equal(c.metadata!.labels![MANAGED_BY_LABEL], 'kube-serverless');
    assert.equal(c.metadata!.labels![FUNCTION_LABEL], undefined, 'shared: no function\'s label');
    assert.deepEqual(c.spec!.accessModes, ['ReadWriteMany']);
    assert.deepEqual(c.spec!.resources!.requests, { storage: '5Gi' });
  }
  assert.equal(claims[1]!.metadata!.labels!['serverless.kube.io/volume'], 'models');
  assert.deepEqual(volumeClaims(spec({ image: 'a/b:1', annotations: { 'kss.volume': 'x' } }))[0]!.spec!.resources!.requests, { storage: '1Gi' });
  assert.deepEqual(volumeClaims(spec({ image: 'a/b:1' })), []);
  assert.equal(volumeClaimName('readings'), 'kss-volume-readings');
});

test('a 63-character volume name still makes a valid pod volume name and claim', () => {
  // Cut at 46 characters this one ends in '-', which a DNS label cannot.
  const long = `${'x'.repeat(45)}-${'y'.repeat(17)}`;
  assert.equal(long.length, 63);
  const name = podVolumeName(long);
  assert.ok(name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name), name);
  assert.notEqual(podVolumeName(`${'x'.repeat(62)}a`), podVolumeName(`${'x'.repeat(62)}b`), 'distinct names stay distinct');
  const objects = functionObjects(spec({ image: 'a/b:1', annotations: { 'kss.volume': long } }), {});
  for (const o of objects) validateObject(o as never);
  for (const c of volumeClaims(spec({ image: 'a/b:1', annotations: { 'kss.volume': long } }))) validateObject(c as never);
});

test('bad volume annotations are KSS_INVALID_VOLUME from functionObjects too', () => {
  for (const annotations of [{ 'kss.volume': 'Bad' }, { 'kss.volume': 'a,a' }, { 'kss.volume': 'x', 'kss.volume.size': 'big' }]) {
    assert.throws(() => functionObjects(spec({ image: 'a/b:1', annotations }), {}), (e: unknown) => isKssError(e) && e.code === 'KSS_INVALID_VOLUME');
  }
});
