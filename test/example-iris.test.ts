/**
 * examples/iris, as its README walks through it: a real gateway, `kss login`,
 * `kss token create`, `kss deploy -f examples/iris/stack.yml` (the real CLI), then
 * train and predict over HTTP with the token — and the monolith answering the same.
 * Also runs the example's Python unit tests (examples/iris/tests, unittest), so
 * `npm test` covers the classifier and the CSV loader.
 *
 * Loopback only; the platform, its replicas and the temp folders go at the end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonInterpreter } from '../src/build/python-interpreter.js';
import { runKss, startTestPlatform, tempDir, type CliRun, type TestPlatform } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'iris');
const IRIS_CSV = readFileSync(join(EXAMPLE, 'data', 'iris.csv'), 'utf8');
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] as const;

/** One row of each class (rows 1, 51, 101 of Fisher's data) and two more of each. */
const KNOWN: Array<[number[], string]> = [
  [[5.1, 3.5, 1.4, 0.2], 'setosa'],
  [[4.9, 3.0, 1.4, 0.2], 'setosa'],
  [[5.0, 3.4, 1.5, 0.2], 'setosa'],
  [[7.0, 3.2, 4.7, 1.4], 'versicolor'],
  [[6.4, 3.2, 4.5, 1.5], 'versicolor'],
  [[5.7, 2.8, 4.1, 1.3], 'versicolor'],
  [[6.3, 3.3, 6.0, 2.5], 'virginica'],
  [[7.1, 3.0, 5.9, 2.1], 'virginica'],
  [[7.7, 3.0, 6.1, 2.3], 'virginica'],
];

interface Prediction {
  class: string;
  probabilities: Record<string, number>;
}

/** Fisher's 150 rows as feature vectors and classes. */
function irisRows(): { X: number[][]; y: string[] } {
  const lines = IRIS_CSV.trim().split('\n').slice(1);
  return {
    X: lines.map((l) => l.split(',').slice(0, 4).map(Number)),
    y: lines.map((l) => l.split(',')[4]!),
  };
}

test('the example\'s Python unit tests pass (classifier, CSV loader, model store, handlers)', () => {
  const r = spawnSync(pythonInterpreter(), ['-m', 'unittest', 'discover', '-s', join(EXAMPLE, 'tests'), '-t', join(EXAMPLE, 'tests')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, PYTHONDONTWRITEBYTECODE: '1', LANG: 'C.UTF-8' },
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^Ran \d+ tests/m);
  assert.match(r.stderr, /^OK$/m);
});

describe('examples/iris deployed through a real gateway with the CLI', () => {
  const work = tempDir('kss-iris-');
  const env: NodeJS.ProcessEnv = { ...process.env, KSS_CONFIG: join(work, 'kss-config.json'), OPENFAAS_CONFIG: join(work, 'openfaas') };
  delete env.KSS_TOKEN;
  let platform: TestPlatform;
  let token: string;

  const kss = (args: string[], stdin?: string): Promise<CliRun> => runKss(args, { cwd: ROOT, env: { ...env, KSS_GATEWAY: platform.url }, stdin });
  const call = (fn: string, init: RequestInit & { auth?: boolean } = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (init.auth !== false) headers.set('authorization', `Bearer ${token}`);
    return fetch(`${platform.url}/function/${fn}`, { ...init, headers, signal: AbortSignal.timeout(20_000) });
  };
  const json = async <T = Record<string, unknown>>(res: Response): Promise<T> => {
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${res.status} answer is JSON`);
    return (await res.json()) as T;
  };
  const predict = async (fn: string, body: unknown): Promise<Response> =>
    call(fn, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  before(async () => {
    platform = await startTestPlatform();
    const login = await kss(['login', '--password-stdin'], `${platform.admin!.password}\n`);
    assert.equal(login.code, 0, login.stderr);
    const created = await kss(['token', 'create', '--scope', 'invoke', '--name', 'iris example']);
    assert.equal(created.code, 0, created.stderr);
    token = created.stdout.trim();
    assert.match(token, /^kss_/);
    const deployed = await kss(['deploy', '-f', 'examples/iris/stack.yml']);
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    for (const fn of ['iris-train', 'iris-predict', 'iris-monolith']) assert.match(deployed.stdout, new RegExp(`/function/${fn}`));
  });
  after(async () => {
    await platform?.close();
    if (platform) rmSync(platform.dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('without a token every function is a 401 from the gateway', async () => {
    for (const fn of ['iris-train', 'iris-predict', 'iris-monolith/predict']) {
      const res = await call(fn, { method: 'POST', body: '{}', auth: false });
      assert.equal(res.status, 401, fn);
      assert.equal(res.headers.get('x-kss-error'), 'KSS_UNAUTHORIZED');
      await res.body?.cancel();
    }
  });

  test('predict before any model is a clear 503 from the function; a bad body is a 400', async () => {
    for (const fn of ['iris-predict', 'iris-monolith/predict']) {
      const early = await predict(fn, { features: [5.1, 3.5, 1.4, 0.2] });
      assert.equal(early.status, 503, fn);
      assert.equal(early.headers.get('x-kss-error'), null, 'the function answered, not the platform');
      const body = await json<{ code: string; message: string }>(early);
      assert.equal(body.code, 'IRIS_NO_MODEL');
      assert.match(body.message, /no model has been trained yet: POST the training data/);
    }
    for (const [body, message] of [
      ['{"features": [5.1, 3.5', /not valid JSON/],
      ['{"features": [5.1, 3.5, 1.4]}', /features: expected 4 numbers/],
      ['{"features": [5.1, 3.5, 1.4, "tall"]}', /features\[3\]: expected a number, got "tall"/],
      ['{"feature": [5.1, 3.5, 1.4, 0.2]}', /unknown field "feature"/],
    ] as const) {
      const res = await call('iris-predict', { method: 'POST', body });
      assert.equal(res.status, 400, body);
      const err = await json<{ code: string; message: string }>(res);
      assert.equal(err.code, 'IRIS_BAD_INPUT');
      assert.match(err.message, message);
    }
    const noData = await call('iris-train', { method: 'POST', body: '' });
    assert.equal(noData.status, 400);
    assert.match((await json<{ message: string }>(noData)).message, /the body is empty: send the training data as CSV/);
    const badCsv = await call('iris-train', { method: 'POST', body: 'sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,x,0.2,setosa\n' });
    assert.equal(badCsv.status, 400);
    assert.match((await json<{ message: string }>(badCsv)).message, /line 2, petal_length: "x" is not a number/);
  });

  test('train reports ≥ 90% on the held-out split; predict knows each class; the monolith agrees', async () => {
    const trained = await call('iris-train', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: IRIS_CSV });
    assert.equal(trained.status, 200, await trained.clone().text());
    const report = await json<{ model: string; accuracy: number; split: { trainRows: number; testRows: number; seed: number }; confusion: Record<string, Record<string, number>> }>(trained);
    assert.ok(report.accuracy >= 0.9, `held-out accuracy ${report.accuracy}`);
    assert.deepEqual([report.split.trainRows, report.split.testRows, report.split.seed], [120, 30, 42]);
    assert.match(report.model, /^gnb-[0-9a-f]{12}$/);

    // The model is a file in the shared volume, group-readable (predict runs as another uid).
    const file = join(platform.dataDir, 'volumes', 'iris-models', 'iris-model.json');
    assert.ok(existsSync(file), file);
    assert.equal(statSync(file).mode & 0o060, 0o060, 'group read-write (umask 0002)');
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version, report.model);

    for (const [features, expected] of KNOWN) {
      const res = await predict('iris-predict', { features });
      assert.equal(res.status, 200);
      const p = await json<Prediction & { model: string }>(res);
      assert.equal(p.class, expected, `${features} → ${p.class}`);
      assert.equal(p.model, report.model);
      assert.deepEqual(Object.keys(p.probabilities).sort(), ['setosa', 'versicolor', 'virginica']);
      assert.ok(Math.abs(Object.values(p.probabilities).reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    const named = await predict('iris-predict', { features: Object.fromEntries(FEATURES.map((f, i) => [f, KNOWN[6]![0][i]])) });
    assert.equal((await json<Prediction>(named)).class, 'virginica');

    // All 150 rows in one batch: the functions and the monolith give the same answers.
    const { X, y } = irisRows();
    const batch = await json<{ predictions: Prediction[]; model: string }>(await predict('iris-predict', { instances: X }));
    assert.equal(batch.predictions.length, 150);
    const correct = batch.predictions.filter((p, i) => p.class === y[i]).length;
    assert.ok(correct / 150 >= 0.9, `${correct}/150 on the whole data set`);

    const monoTrained = await call('iris-monolith/train', { method: 'POST', body: IRIS_CSV });
    assert.equal(monoTrained.status, 200);
    const monoReport = await json<{ model: string; accuracy: number }>(monoTrained);
    assert.equal(monoReport.model, report.model, 'same data, same split: the same model, bit for bit');
    assert.equal(monoReport.accuracy, report.accuracy);
    assert.ok(existsSync(join(platform.dataDir, 'volumes', 'iris-monolith-models', 'iris-model.json')), 'the monolith has its own volume');
    const monoBatch = await json<{ predictions: Prediction[]; model: string }>(await predict('iris-monolith/predict', { instances: X }));
    assert.deepEqual(monoBatch, batch);
    const info = await json<{ model: string; accuracy: number }>(await call('iris-predict'));
    assert.deepEqual([info.model, info.accuracy], [report.model, report.accuracy]);
  });

  test('the monolith answers 404 for other paths; train refuses GET with Allow', async () => {
    const missing = await call('iris-monolith/nope', { method: 'POST', body: '{}' });
    assert.equal(missing.status, 404);
    assert.equal((await json<{ code: string }>(missing)).code, 'IRIS_NOT_FOUND');
    const get = await call('iris-train');
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    await get.body?.cancel();
  });
});
