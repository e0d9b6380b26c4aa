import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KssError } from './errors.js';
import { parseFunctionSpec, parseQualifiedName, parseTimeout, DEFAULT_NAMESPACE } from './function-spec.js';
import { scaleSettings } from './scale-labels.js';

const code = `sha256:${'f'.repeat(64)}`;

test('a faas-cli FunctionDeployment parses, unknown and deprecated fields ignored', () => {
  const spec = parseFunctionSpec({
    service: 'nodeinfo',
    image: 'functions/nodeinfo:latest',
    envProcess: 'node main.js',
    envVars: { A: 'b' },
    constraints: ['node.platform.os == linux'],
    labels: { foo: 'bar' },
    annotations: null,
    limits: { memory: '128Mi', cpu: '500m' },
    requests: null,
    readOnlyRootFilesystem: true,
    registryAuth: 'ignored',
    network: 'func_functions',
    code,
  });
  assert.deepEqual(spec, {
    service: 'nodeinfo',
    namespace: DEFAULT_NAMESPACE,
    image: 'functions/nodeinfo:latest',
    runtime: 'node',
    timeout: 60,
    envProcess: 'node main.js',
    envVars: { A: 'b' },
    constraints: ['node.platform.os == linux'],
    labels: { foo: 'bar' },
    limits: { memory: '128Mi', cpu: '500m' },
    readOnlyRootFilesystem: true,
    code,
  });
});

test('without an image, the runtime image is named', () => {
  assert.equal(parseFunctionSpec({ service: 'a', code }, { version: '1.2.3' }).image, 'ghcr.io/kube-serverless/runtime-node:1.2.3');
});

test('names: DNS-1123 labels of at most 63 characters', () => {
  for (const ok of ['a', 'a-b', 'a1', '1a', 'x'.repeat(63)]) assert.equal(parseFunctionSpec({ service: ok }).service, ok);
  for (const bad of ['', 'A', 'a_b', '-a', 'a-', 'x'.repeat(64), 'a.b', 'a b', 42, null]) {
    assert.throws(() => parseFunctionSpec({ service: bad }), (e: unknown) => e instanceof KssError && e.code === 'KSS_INVALID_NAME');
  }
});

test('errors name the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /^body/],
    [[], /^body/],
    [{ service: 'a', namespace: 'Bad' }, /^namespace/],
    [{ service: 'a', envVars: [] }, /^envVars/],
    [{ service: 'a', secrets: 'x' }, /^secrets/],
    [{ service: 'a', limits: { cpu: '1 core' } }, /^limits\.cpu/],
    [{ service: 'a', readOnlyRootFilesystem: 'yes' }, /^readOnlyRootFilesystem/],
    [{ service: 'a', handler: '/abs.js' }, /^handler/],
    [{ service: 'a', handler: 'a/../../b.js' }, /^handler/],
    [{ service: 'a', runtime: 'java' }, /^runtime/],
  ];
  for (const [input, pattern] of cases) {
    assert.throws(() => parseFunctionSpec(input), (e: unknown) => e instanceof KssError && e.status === 400 && pattern.test(e.message), JSON.stringify(input));
  }
});

test('timeouts: seconds or durations, bounded', () => {
  assert.equal(parseTimeout(undefined), 60);
  assert.equal(parseTimeout(5), 5);
  assert.equal(parseTimeout('500ms'), 0.5);
  assert.equal(parseTimeout('2m'), 120);
  for (const bad of [0, -1, 3601, '1d', 'abc', {}]) assert.throws(() => parseTimeout(bad), /timeout/);
});

test('qualified names split on the first dot', () => {
  assert.deepEqual(parseQualifiedName('hello'), { name: 'hello', namespace: 'openfaas-fn' });
  assert.deepEqual(parseQualifiedName('hello.dev'), { name: 'hello', namespace: 'dev' });
  assert.throws(() => parseQualifiedName('hello.dev.x'), /namespace/);
  assert.throws(() => parseQualifiedName('.dev'), /name/);
});

test('scale labels: OpenFaaS names and defaults', () => {
  assert.deepEqual(scaleSettings({}), { min: 1, max: 20, target: 10, zero: false, zeroDurationMs: 300_000, maxInflight: Infinity });
  assert.deepEqual(scaleSettings({ labels: { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '5', 'com.openfaas.scale.target': '3', 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '90s' }, envVars: { max_inflight: '4' } }), { min: 2, max: 5, target: 3, zero: true, zeroDurationMs: 90_000, maxInflight: 4 });
  assert.equal(scaleSettings({ labels: { 'com.openfaas.scale.min': '0' } }).zero, true, 'min 0 allows zero');
  assert.throws(() => scaleSettings({ labels: { 'com.openfaas.scale.zero': 'yes' } }), /com\.openfaas\.scale\.zero/);
  assert.throws(() => scaleSettings({ labels: { 'com.openfaas.scale.zero-duration': '5 minutes' } }), /zero-duration/);
  assert.throws(() => scaleSettings({ envVars: { max_inflight: 'ten' } }), /max_inflight/);
  assert.throws(() => scaleSettings({ labels: { 'com.openfaas.scale.min': '6', 'com.openfaas.scale.max': '5' } }), /com\.openfaas\.scale\.min/);
  assert.throws(() => scaleSettings({ labels: { 'com.openfaas.scale.max': '-1' } }), /com\.openfaas\.scale\.max/);
});
