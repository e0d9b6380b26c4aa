/**
 * examples/gas-meter, as its README walks a user through it: the detector's and the
 * functions' unit tests (Python's unittest), then on a real gateway `kss login`,
 * `kss deploy -f examples/gas-meter/stack.yml`, the simulator publishing N rotations to
 * the machine's Mosquitto (a topic of this run's own), and the consumption API, called
 * with a token, reporting N × 10 L. Also what must fail: no token (401), over the rate
 * limit (429), a bad query (400 from the function, in JSON). Twice: on SQLite in the
 * shared volume (the default) and on PostgreSQL on 127.0.0.1:5432 (a database of this
 * run's own, dropped at the end).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, runKss, startTestPlatform, tempDir, type CliRun, type TestPlatform } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'gas-meter');
const SIMULATOR = join(EXAMPLE, 'simulator', 'simulate.mjs');
const MQTT = 'mqtt://127.0.0.1:1883';
const run = randomUUID().slice(0, 8);
const DEVICE = 'gas-meter-1';
/** Small and bounded: about 3 minutes of meter time, 40-60 messages published in about a second. */
const ROTATIONS = 8;
const LITRES_PER_ROTATION = 10;

/** What a process printed and returned; rejects on spawn errors, kills it after `timeoutMs`. */
function runProcess(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs: number }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => (s.destroy(), resolve(false)));
  });
}

test('the detector and the functions pass their unit tests (python3 -m unittest)', { timeout: 90_000 }, async () => {
  const r = await runProcess('python3', ['-m', 'unittest', 'discover', '-s', join(EXAMPLE, 'tests'), '-t', join(EXAMPLE, 'tests')], { timeoutMs: 85_000 });
  assert.equal(r.code, 0, `python3 -m unittest failed:\n${r.stderr.slice(-6000)}`);
  const ran = /Ran (\d+) tests?/.exec(r.stderr);
  assert.ok(ran && Number(ran[1]) >= 40, `expected the whole suite to run:\n${r.stderr.slice(-2000)}`);
});

test('the recorded data is what the simulator makes with the flags data/README.md gives', async () => {
  const readme = readFileSync(join(EXAMPLE, 'data', 'README.md'), 'utf8');
  const command = /node examples\/gas-meter\/simulator\/simulate\.mjs ([^`]+?)\s--out\s/s.exec(readme)?.[1];
  assert.ok(command, 'data/README.md shows the command that made the data');
  const flags = command.replace(/\\\n/g, ' ').trim().split(/\s+/);
  const out = tempDir('kss-gas-data-');
  try {
    const file = join(out, 'data.ndjson');
    const r = await runProcess(process.execPath, [SIMULATOR, ...flags, '--out', file, '--json', '-q'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(file, 'utf8'), readFileSync(join(EXAMPLE, 'data', 'gas-meter-1.2026-01-15.ndjson'), 'utf8'));
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(readFileSync(join(EXAMPLE, 'data', 'gas-meter-1.2026-01-15.truth.json'), 'utf8')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('the simulator refuses bad flags with a message', async () => {
  for (const [args, message] of [
    [['--rotations', 'many'], /--rotations: expected a non-negative number/],
    [['--flow', '6-1'], /--flow: expected MIN-MAX/],
    [['--dropout', '2'], /--dropout: a probability/],
    [['--bogus'], /Unknown option '--bogus'/],
  ] as const) {
    const r = await runProcess(process.execPath, [SIMULATOR, ...args], { timeoutMs: 10_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
});

interface Deployment {
  /** Extra environment for `kss deploy` (the stack file's ${…} settings). */
  env: Record<string, string>;
  /** Prepares what the variant needs (a database, a secret); returns why to skip, if it must. */
  setUp?: (kss: (args: string[], stdin?: string) => Promise<CliRun>) => Promise<string | undefined>;
  tearDown?: () => Promise<void>;
  /** After the API checks: what the database itself holds. */
  verify?: (truth: { rotations: number }) => Promise<void>;
}

function pipeline(label: string, variant: Deployment): void {
  describe(`the gas-meter pipeline on ${label}`, { timeout: 120_000 }, () => {
    let p: TestPlatform;
    const work = tempDir('kss-gas-cli-');
    const topic = `kss-test/${run}-${label.toLowerCase()}`;
    let skip: string | undefined;
    let token = '';
    let published: { messages: number; corrupted: number } | undefined;
    let env: NodeJS.ProcessEnv;
    const kss = (args: string[], stdin?: string) => runKss(args, { cwd: ROOT, env, stdin });

    before(async () => {
      p = await startTestPlatform();
      env = { ...process.env, KSS_GATEWAY: p.url, KSS_CONFIG: join(work, 'kss.json'), OPENFAAS_CONFIG: join(work, 'openfaas'), GAS_METER_TOPIC: `${topic}/+/samples`, GAS_METER_BROKER: MQTT, ...variant.env };
      delete env.KSS_TOKEN;
      const login = await kss(['login', '--password-stdin'], `${p.admin!.password}\n`);
      assert.equal(login.code, 0, login.stderr);
      skip = await variant.setUp?.(kss);
    });
    after(async () => {
      if (p) {
        await kss(['remove', '-f', 'examples/gas-meter/stack.yml']).catch(() => undefined);
        await p.close();
        rmSync(p.dataDir, { recursive: true, force: true });
      }
      await variant.tearDown?.();
      rmSync(work, { recursive: true, force: true });
    });

    const api = (path: string, headers: Record<string, string> = {}) => fetch(`${p.url}/function/gas-consumption${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

    test('kss deploy -f examples/gas-meter/stack.yml deploys both functions with their trigger', async (t) => {
      if (skip) return t.skip(skip);
      const deployed = await kss(['deploy', '-f', 'examples/gas-meter/stack.yml']);
      assert.equal(deployed.code, 0, deployed.stderr);
      assert.match(deployed.stdout, /function\/gas-ingest/);
      assert.match(deployed.stdout, /function\/gas-consumption/);
      await eventually(async () => (await p.client.listTriggers({ function: 'gas-ingest' })).triggers[0]?.state === 'connected', 15_000, 'the MQTT trigger to connect');
      const created = await kss(['token', 'create', '--scope', 'invoke', '--name', 'gas-meter-test', '--expires', '1h']);
      assert.equal(created.code, 0, created.stderr);
      token = created.stdout.trim();
      assert.ok(token.length > 20);
    });

    test(`the simulator's ${ROTATIONS} rotations come out of the API as ${ROTATIONS * LITRES_PER_ROTATION} L`, { timeout: 60_000 }, async (t) => {
      if (skip || !token) return t.skip(skip ?? 'not deployed');
      const sim = await runProcess(process.execPath, [SIMULATOR, '--rotations', String(ROTATIONS), '--broker', MQTT, '--topic', `${topic}/${DEVICE}/samples`,
        '--device', DEVICE, '--seed', '4', '--flow', '1.5-6', '--max-pause', '20', '--corrupt', '0.05', '--json', '-q'], { timeoutMs: 30_000 });
      assert.equal(sim.code, 0, sim.stderr);
      const truth = JSON.parse(sim.stdout) as { rotations: number; messages: number; corrupted: number; start: string; end: string };
      assert.equal(truth.rotations, ROTATIONS);
      published = truth;

      // Every message handled: counted (2xx) or, for the corrupted copies, given up (400).
      await eventually(async () => {
        const [trigger] = (await p.client.listTriggers({ function: 'gas-ingest' })).triggers;
        return trigger !== undefined && trigger.messages.succeeded + trigger.messages.deadLettered >= truth.messages;
      }, 40_000, `the trigger to handle ${truth.messages} messages`);
      const [trigger] = (await p.client.listTriggers({ function: 'gas-ingest' })).triggers;
      assert.equal(trigger!.messages.succeeded, truth.messages - truth.corrupted);
      assert.equal(trigger!.messages.deadLettered, truth.corrupted);

      // Tolerance: none. The simulator's drum stops at exactly N rotations, and its detector
      // starts at the drum's peak, where the first rotation is seen (detector.py, "The first
      // rotation": started elsewhere, it could miss that one, never count one too many).
      // Messages are handled in order, redeliveries skipped, and seed 4 is deterministic.
      const from = new Date(Date.parse(truth.start) - 3600_000).toISOString();
      const to = new Date(Date.parse(truth.end) + 3600_000).toISOString();
      const res = await api(`/?period=hour&from=${from}&to=${to}&device=${DEVICE}`);
      assert.equal(res.status, 200, await res.clone().text());
      const usage = (await res.json()) as { buckets: Array<{ litres: number }>; total: { rotations: number; litres: number; m3: number } };
      assert.equal(usage.total.rotations, ROTATIONS);
      assert.equal(usage.total.litres, ROTATIONS * LITRES_PER_ROTATION);
      assert.equal(usage.total.m3, (ROTATIONS * LITRES_PER_ROTATION) / 1000);
      assert.equal(usage.buckets.reduce((s, b) => s + b.litres, 0), ROTATIONS * LITRES_PER_ROTATION);

      const day = (await (await api(`/?period=day&device=${DEVICE}`)).json()) as { total: { litres: number } };
      assert.equal(day.total.litres, ROTATIONS * LITRES_PER_ROTATION);

      const rate = (await (await api(`/rate?device=${DEVICE}`)).json()) as { total: { rotations: number }; flow: { m3_per_hour: number } | null; stale: boolean; last_sample_at: string };
      assert.equal(rate.total.rotations, ROTATIONS);
      assert.ok(rate.flow && rate.flow.m3_per_hour > 0 && rate.flow.m3_per_hour <= 6.5, JSON.stringify(rate));
      assert.equal(rate.stale, false); // the backlog ends now
      await variant.verify?.(truth);
    });

    test('without a token the API is 401, from the platform', async (t) => {
      if (skip || !token) return t.skip(skip ?? 'not deployed');
      const res = await fetch(`${p.url}/function/gas-consumption/rate`);
      assert.equal(res.status, 401);
      assert.ok(res.headers.get('x-kss-error'));
      const wrong = await api('/rate', { authorization: 'Bearer not-a-token' });
      assert.equal(wrong.status, 401);
      // And nobody posts readings over HTTP without one either.
      const post = await fetch(`${p.url}/function/gas-ingest`, { method: 'POST', body: '{}' });
      assert.equal(post.status, 401);
    });

    test('a bad query is a 400 from the function, in JSON, naming the parameter', async (t) => {
      if (skip || !token) return t.skip(skip ?? 'not deployed');
      const res = await api('/?period=week');
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('x-kss-error'), null); // the function's answer, not the platform's
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const body = (await res.json()) as { error: string; field: string; message: string };
      assert.deepEqual({ error: body.error, field: body.field }, { error: 'invalid_query', field: 'period' });
      assert.match(body.message, /"hour" or "day"/);
      const unknown = await api('/?from=2026-01-16&to=2026-01-15');
      assert.equal(unknown.status, 400);
      assert.equal(((await unknown.json()) as { field: string }).field, 'from');
    });

    test('over 10 requests a second per caller is 429 with Retry-After', async (t) => {
      if (skip || !token) return t.skip(skip ?? 'not deployed');
      await new Promise((r) => setTimeout(r, 1100)); // a full bucket: a burst of 10, then one per 100 ms
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 20 }, () => api('/rate')));
      const elapsed = (Date.now() - started) / 1000;
      const codes = answers.map((r) => r.status);
      await Promise.all(answers.map((r) => r.arrayBuffer()));
      const ok = codes.filter((c) => c === 200).length;
      assert.ok(ok >= 10 && ok <= 10 + Math.ceil(elapsed * 10), `${ok} answered in ${elapsed} s: ${codes.join(',')}`);
      assert.equal(ok + codes.filter((c) => c === 429).length, 20, codes.join(','));
      const limited = answers.find((r) => r.status === 429);
      assert.ok(limited, `expected some 429s: ${codes.join(',')}`);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.equal(limited.headers.get('x-kss-error'), 'KSS_RATE_LIMITED');
    });

    test('per-function metrics count the ingest calls and the trigger messages', async (t) => {
      if (skip || !token || !published) return t.skip(skip ?? 'not deployed');
      const metrics = await (await fetch(`${p.url}/metrics`)).text();
      const value = (name: string, labels: string) => {
        const m = new RegExp(`^${name}\\{${labels.replace(/[.]/g, '\\.')}[^}]*\\} (\\S+)$`, 'm').exec(metrics);
        assert.ok(m, `${name}{${labels}} in /metrics`);
        return Number(m[1]);
      };
      const counted = published.messages - published.corrupted;
      assert.equal(value('gateway_function_invocation_total', 'function_name="gas-ingest.openfaas-fn",code="200"'), counted);
      assert.equal(value('gateway_function_invocation_total', 'function_name="gas-ingest.openfaas-fn",code="400"'), published.corrupted);
      assert.equal(value('function_trigger_messages_total', 'function_name="gas-ingest.openfaas-fn",trigger="mqtt",type="mqtt",outcome="succeeded"'), counted);
      assert.equal(value('function_trigger_messages_total', 'function_name="gas-ingest.openfaas-fn",trigger="mqtt",type="mqtt",outcome="dead-letter"'), published.corrupted);
      assert.ok(value('gateway_function_invocation_total', 'function_name="gas-consumption.openfaas-fn",code="400"') >= 2);
      assert.ok(value('function_busy_seconds_total', 'function_name="gas-ingest.openfaas-fn"') > 0);
      const described = await kss(['describe', 'gas-ingest', '--json']);
      assert.equal(described.code, 0, described.stderr);
      const d = JSON.parse(described.stdout) as { cost?: { invocations: number } };
      assert.ok((d.cost?.invocations ?? 0) > 0, described.stdout.slice(0, 400));
    });
  });
}

pipeline('SQLite', { env: {} });

// PostgreSQL: a role and a database of this run's own on the machine's server, the
// connection string in a secret, as the README's PostgreSQL section does it.
const pg = { role: `kss_gas_${run}`, db: `kss_gas_${run}`, password: randomUUID() };
// As a superuser: this user's own role over the socket (root on CI), else postgres over TCP.
const ADMIN_LOGINS = [[], ['-h', '127.0.0.1', '-U', 'postgres']];
let adminLogin: string[] = [];
const psqlIn = (db: string, sql: string, login = adminLogin) =>
  spawnSync('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', ...login, '-d', db, '-c', sql], { encoding: 'utf8', timeout: 20_000 });
const psql = (sql: string) => psqlIn('postgres', sql);

pipeline('PostgreSQL', {
  env: { GAS_METER_DATABASE: 'postgres', GAS_METER_SECRETS: '[gas-meter-postgres]' },
  async setUp(kss) {
    if (!(await portOpen(5432))) return 'PostgreSQL is not listening on 127.0.0.1:5432';
    const driver = spawnSync('python3', ['-c', 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import psycopg2'], { encoding: 'utf8' });
    if (driver.status !== 0) return 'psycopg2 is not installed (apt-get install python3-psycopg2)';
    const login = ADMIN_LOGINS.find((l) => psqlIn('postgres', 'SELECT 1', l).status === 0);
    if (!login) return 'cannot log in to PostgreSQL as a superuser (psql as this user, or as postgres on 127.0.0.1)';
    adminLogin = login;
    const made = psql(`CREATE ROLE ${pg.role} LOGIN PASSWORD '${pg.password}'`);
    if (made.status !== 0) return `cannot create a PostgreSQL role as postgres: ${made.stderr.trim()}`;
    const db = psql(`CREATE DATABASE ${pg.db} OWNER ${pg.role}`);
    assert.equal(db.status, 0, db.stderr);
    const secret = await kss(['secret', 'create', 'gas-meter-postgres'], `postgresql://${pg.role}:${pg.password}@127.0.0.1:5432/${pg.db}`);
    assert.equal(secret.code, 0, secret.stderr);
    return undefined;
  },
  async verify(truth) {
    const rows = psqlIn(pg.db, `SELECT count(*), sum(litres) FROM meter_rotation; SELECT rotations FROM meter_device WHERE device = '${DEVICE}'`);
    assert.equal(rows.status, 0, rows.stderr);
    assert.deepEqual(rows.stdout.trim().split('\n'), [`${truth.rotations}|${truth.rotations * LITRES_PER_ROTATION}`, String(truth.rotations)]);
  },
  async tearDown() {
    if (!(await portOpen(5432))) return;
    psql(`DROP DATABASE IF EXISTS ${pg.db} WITH (FORCE)`);
    psql(`DROP ROLE IF EXISTS ${pg.role}`);
  },
});
