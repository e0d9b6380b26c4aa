/**
 * Secrets over a real gateway: the OpenFaaS `/system/secrets` shapes and status codes,
 * every bad input with its catalogue code, auth, encryption at rest (the data dir's
 * bytes), values never leaving the store (responses, errors, audit log, gateway logs,
 * metrics), deploy validation (missing → 400, in use → 409), a restart, and the
 * `kss secret` commands end to end.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { KssError } from '../src/core/index.js';
import { packDirectory } from '../src/archive/index.js';
import { ECHO_HANDLER, runKss, startTestPlatform, tempDir, writeFunction, type CliRun, type TestPlatform } from './helpers.js';
import { documentedStatuses, validateAgainst } from './openapi-schema.js';

/** Distinctive values: if any of these bytes shows up anywhere outside the store, it leaked. */
const VALUE = 'S3cr3t-VALUE-0f-db-password';
const VALUE2 = 'R0tated-VALUE-after-update';
const BINARY = Buffer.from([0x00, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x7f, 0xff, 0x42, 0x13, 0x37, 0x00]);
const LEAK_MARKERS = [VALUE, VALUE2, 'Bad-json-VALUE', 'Too-big-VALUE', 'CLI-literal-VALUE', 'CLI-stdin-VALUE', 'CLI-updated-VALUE'];

const logLines: string[] = [];
let p: TestPlatform;

before(async () => {
  // Every log line at every level, to check no value reaches the log.
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
  p = await startTestPlatform({ logger, warmPool: 0 });
});
after(async () => {
  await p.close();
});

const json = { 'content-type': 'application/json' };
const secrets = (method: string, body?: unknown, query = '', headers: Record<string, string> = json) =>
  p.api(`/system/secrets${query}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });

async function expectError(res: Response, status: number, code: string, message?: RegExp): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get('x-kss-error'), code, text);
  const body = JSON.parse(text) as { code: string; message: string };
  assert.equal(body.code, code);
  if (message) assert.match(body.message, message);
  for (const marker of LEAK_MARKERS) assert.ok(!text.includes(marker), `error body holds a value: ${text}`);
  return body.message;
}

test('the OpenFaaS /system/secrets API: shapes and status codes', async () => {
  // faas-netes (pkg/handlers/secrets.go) answers 202 to POST, PUT and DELETE; the gateway
  // spec documents 201, 200 and 204; faas-cli accepts 200/201/202 for create, 200/202 for
  // update, and only 200/202 for remove. We answer 201, 200 and 202.
  assert.ok(documentedStatuses('/system/secrets', 'post').includes('201'));
  assert.ok(documentedStatuses('/system/secrets', 'put').includes('200'));
  assert.ok(documentedStatuses('/system/secrets', 'put').includes('404'));
  assert.ok(documentedStatuses('/system/secrets', 'delete').includes('404'));

  const empty = await secrets('GET');
  assert.equal(empty.status, 200);
  assert.match(empty.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(await empty.json(), []);

  const created = await secrets('POST', { name: 'db-password', value: VALUE });
  assert.equal(created.status, 201);
  assert.equal(await created.text(), '');
  // faas-cli's Go client sends the body without a Content-Type; fetch labels a string text/plain.
  const raw = await secrets('POST', JSON.stringify({ name: 'tls.key', rawValue: BINARY.toString('base64') }), '', { 'content-type': 'text/plain' });
  assert.equal(raw.status, 201);
  assert.equal((await p.secrets.read('openfaas-fn', ['tls.key'])).get('tls.key')!.equals(BINARY), true, 'rawValue is stored byte for byte');

  await expectError(await secrets('POST', { name: 'db-password', value: 'again' }), 409, 'KSS_SECRET_EXISTS', /secret "db-password" already exists in namespace "openfaas-fn"; change its value with `kss secret update db-password`/);

  const list = (await (await secrets('GET')).json()) as Array<Record<string, unknown>>;
  assert.deepEqual(list.map((s) => [s.name, s.namespace]), [['db-password', 'openfaas-fn'], ['tls.key', 'openfaas-fn']]);
  for (const item of list) {
    assert.deepEqual(validateAgainst('SecretDescription', item), []);
    assert.deepEqual(Object.keys(item).sort(), ['createdAt', 'name', 'namespace', 'updatedAt']);
  }

  const updated = await secrets('PUT', { name: 'db-password', value: VALUE2 });
  assert.equal(updated.status, 200);
  assert.equal(await updated.text(), '');
  assert.equal((await p.secrets.read('openfaas-fn', ['db-password'])).get('db-password')!.toString(), VALUE2);
  await expectError(await secrets('PUT', { name: 'nope', value: 'x' }), 404, 'KSS_SECRET_NOT_FOUND', /secret "nope" not found in namespace "openfaas-fn"/);

  // Namespaces: in the body (faas-netes) or the query (faasd); GET by ?namespace=.
  assert.equal((await secrets('POST', { name: 'db-password', namespace: 'dev', value: VALUE })).status, 201);
  assert.deepEqual(((await (await secrets('GET', undefined, '?namespace=dev')).json()) as Array<{ name: string; namespace: string }>).map((s) => `${s.name}.${s.namespace}`), ['db-password.dev']);
  assert.equal((await secrets('PUT', { name: 'db-password', value: VALUE2 }, '?namespace=dev')).status, 200);
  const removedDev = await secrets('DELETE', { name: 'db-password' }, '?namespace=dev');
  assert.equal(removedDev.status, 202);
  assert.deepEqual(await (await secrets('GET', undefined, '?namespace=dev')).json(), []);

  const removed = await secrets('DELETE', { name: 'tls.key' });
  assert.equal(removed.status, 202);
  assert.equal(await removed.text(), '');
  await expectError(await secrets('DELETE', { name: 'tls.key' }), 404, 'KSS_SECRET_NOT_FOUND');
  await expectError(await secrets('DELETE', { name: 'tls.key', namespace: 'dev' }), 404, 'KSS_SECRET_NOT_FOUND', /namespace "dev"/);
});

test('bad input is a 4xx catalogue error naming the field, never a 500, never echoing a value', async () => {
  const cases: Array<[string, unknown, number, string, RegExp, string?]> = [
    ['POST', '{"name":"a","value":Bad-json-VALUE}', 400, 'KSS_INVALID_JSON', /^body: not valid JSON/],
    ['POST', '{"name":"a","value":"Bad-json-VALUE" x}', 400, 'KSS_INVALID_JSON', /^body: not valid JSON \(at position \d+\)$/],
    ['POST', '{"name":"a","value":"Bad-json-VALUE"', 400, 'KSS_INVALID_JSON', /^body: not valid JSON/],
    ['POST', '', 400, 'KSS_BAD_REQUEST', /^body: expected a JSON object/],
    ['POST', '["Bad-json-VALUE"]', 400, 'KSS_BAD_REQUEST', /^body: expected a JSON object/],
    ['POST', '"Bad-json-VALUE"', 400, 'KSS_BAD_REQUEST', /^body: expected a JSON object/],
    ['POST', { value: 'Bad-json-VALUE' }, 400, 'KSS_INVALID_NAME', /^name: a secret name is required/],
    ['POST', { name: 7, value: 'Bad-json-VALUE' }, 400, 'KSS_INVALID_NAME', /^name: a secret name must be a string/],
    ['POST', { name: 'Bad_Name', value: 'Bad-json-VALUE' }, 400, 'KSS_INVALID_NAME', /^name: "Bad_Name" is not a valid secret name/],
    ['POST', { name: '../etc/passwd', value: 'Bad-json-VALUE' }, 400, 'KSS_INVALID_NAME', /^name: /],
    ['POST', { name: 'x'.repeat(254), value: 'Bad-json-VALUE' }, 400, 'KSS_INVALID_NAME', /^name: /],
    ['POST', { name: 'a' }, 400, 'KSS_BAD_REQUEST', /^value: required/],
    ['POST', { name: 'a', value: 'Bad-json-VALUE', rawValue: 'AAAA' }, 400, 'KSS_BAD_REQUEST', /^value, rawValue: give one of them, not both/],
    ['POST', { name: 'a', value: { v: 'Bad-json-VALUE' } }, 400, 'KSS_BAD_REQUEST', /^value: expected a string/],
    ['POST', { name: 'a', rawValue: 'Bad-json-VALUE!!' }, 400, 'KSS_BAD_REQUEST', /^rawValue: not valid base64/],
    ['POST', { name: 'a', value: `Too-big-VALUE${'x'.repeat(512 * 1024)}` }, 413, 'KSS_PAYLOAD_TOO_LARGE', /^value: 513 KiB is more than a secret may hold \(512 KiB\)/],
    ['POST', { name: 'a', value: `Too-big-VALUE${'x'.repeat(1024 * 1024)}` }, 413, 'KSS_PAYLOAD_TOO_LARGE', /larger than the gateway accepts/],
    ['POST', { name: 'a', value: 'Bad-json-VALUE', namespace: 'Not_A_Namespace' }, 400, 'KSS_INVALID_NAMESPACE', /^namespace: /],
    ['POST', { name: 'a', value: 'Bad-json-VALUE' }, 400, 'KSS_INVALID_NAMESPACE', /^namespace: /, '?namespace=Nope!'],
    ['POST', { name: 'a', value: 'Bad-json-VALUE', namespace: 'dev' }, 400, 'KSS_INVALID_NAMESPACE', /^namespace: the body says "dev" but the query says "prod"/, '?namespace=prod'],
    ['PUT', { name: 'a', rawValue: 5 }, 400, 'KSS_BAD_REQUEST', /^rawValue: expected a base64 string/],
    ['PUT', '{"name":"a","value":"Bad-json-VALUE"', 400, 'KSS_INVALID_JSON', /^body: not valid JSON/],
    ['DELETE', '', 400, 'KSS_BAD_REQUEST', /^body: expected a JSON object \{"name": "..."\}/],
    ['DELETE', { name: 'Bad' }, 400, 'KSS_INVALID_NAME', /^name: /],
    ['GET', undefined, 400, 'KSS_INVALID_NAMESPACE', /^namespace: /, '?namespace=BAD'],
  ];
  for (const [method, body, status, code, message, query] of cases) {
    await expectError(await secrets(method, body, query ?? ''), status, code, message);
  }
  // An archive Content-Type does not get the code upload's 100 MiB limit here.
  const archive = await p.api('/system/secrets', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(2 * 1024 * 1024) });
  await expectError(archive, 413, 'KSS_PAYLOAD_TOO_LARGE');
  assert.deepEqual(await (await secrets('GET')).json().then((l) => (l as Array<{ name: string }>).filter((s) => s.name === 'a')), [], 'nothing was stored');
});

test('auth: 401 without credentials, 403 with a weaker token; read may list, deploy may change', async () => {
  for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
    const res = await fetch(`${p.url}/system/secrets`, { method, headers: json, body: method === 'GET' ? undefined : JSON.stringify({ name: 'x', value: VALUE }) });
    await expectError(res, 401, 'KSS_UNAUTHORIZED');
  }
  const read = (await p.client.createToken({ name: 'secrets-read', scopes: ['read'] })).token;
  const invoke = (await p.client.createToken({ name: 'secrets-invoke', scopes: ['invoke'] })).token;
  const deploy = (await p.client.createToken({ name: 'secrets-deploy', scopes: ['deploy'] })).token;
  const as = (token: string, method: string, body?: unknown) => fetch(`${p.url}/system/secrets`, { method, headers: { ...json, authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.equal((await as(read, 'GET')).status, 200);
  await expectError(await as(invoke, 'GET'), 403, 'KSS_FORBIDDEN');
  await expectError(await as(read, 'POST', { name: 'by-token', value: VALUE }), 403, 'KSS_FORBIDDEN');
  assert.equal((await as(deploy, 'POST', { name: 'by-token', value: VALUE })).status, 201);
  assert.equal((await as(deploy, 'DELETE', { name: 'by-token' })).status, 202);
});

test('deploy validation: a missing secret is a 400 naming it; a secret in use cannot be deleted', async () => {
  const { digest } = await p.client.uploadCode(await packDirectory(writeFunction({ 'handler.js': ECHO_HANDLER })));
  const spec = { service: 'uses-secrets', runtime: 'node', code: digest };
  // Through both API surfaces, create and update.
  const viaOpenFaas = await p.api('/system/functions', { method: 'POST', headers: json, body: JSON.stringify({ ...spec, secrets: ['api-token', 'db-password'] }) });
  await expectError(viaOpenFaas, 400, 'KSS_MISSING_SECRET', /^secrets: "api-token" does not exist in namespace "openfaas-fn"; create it first with `kss secret create api-token --from-file PATH`/);
  await assert.rejects(p.client.createFunction({ ...spec, namespace: 'dev', secrets: ['a-1', 'b-2'] }), (e: unknown) => {
    assert.equal((e as KssError).code, 'KSS_MISSING_SECRET');
    assert.match((e as Error).message, /^secrets: "a-1", "b-2" do not exist in namespace "dev"; create them first with `kss secret create a-1 --namespace dev --from-file PATH`.*once per secret/);
    return true;
  });
  await expectError(await p.api('/system/functions', { method: 'POST', headers: json, body: JSON.stringify({ ...spec, secrets: ['Bad_Name'] }) }), 400, 'KSS_INVALID_NAME', /^secrets\[0\]: "Bad_Name" is not a valid secret name/);

  // With the secret there, the function deploys; it lists the name, never the value.
  await deployFunction(p.client, 'uses-secrets', { 'handler.js': ECHO_HANDLER }, { secrets: ['db-password'] });
  assert.deepEqual((await p.client.getFunction('uses-secrets')).secrets, ['db-password']);
  // Updating it to list a missing one fails and leaves it as it was.
  await assert.rejects(p.client.updateFunction({ ...(await specOf('uses-secrets')), secrets: ['db-password', 'not-there'] }), (e: unknown) => (e as KssError).code === 'KSS_MISSING_SECRET' && /"not-there"/.test((e as Error).message));
  assert.deepEqual((await p.client.getFunction('uses-secrets')).secrets, ['db-password']);

  const inUse = await expectError(await secrets('DELETE', { name: 'db-password' }), 409, 'KSS_SECRET_IN_USE', /^secret "db-password" is used by function "uses-secrets" in namespace "openfaas-fn"/);
  assert.match(inUse, /kss secret update db-password/);
  assert.deepEqual(p.service.functionsUsingSecret('openfaas-fn', 'db-password'), ['uses-secrets']);
  assert.deepEqual(p.service.functionsUsingSecret('dev', 'db-password'), [], 'another namespace is another secret');
  // Updating its value is allowed while in use.
  assert.equal((await secrets('PUT', { name: 'db-password', value: VALUE })).status, 200);

  const seen = JSON.stringify([await (await p.api('/system/functions')).json(), await (await p.api('/system/function/uses-secrets')).json(), await (await p.api('/api/v1/functions/uses-secrets')).json(), await (await secrets('GET')).json()]);
  assert.match(seen, /db-password/);
  for (const marker of LEAK_MARKERS) assert.ok(!seen.includes(marker), 'no value in function or secret listings');

  await p.client.removeFunction('uses-secrets');
  assert.deepEqual(p.service.functionsUsingSecret('openfaas-fn', 'db-password'), []);
  assert.equal((await secrets('DELETE', { name: 'db-password' })).status, 202);
});

/**
 * Deploys without waiting for a ready replica: what secrets need is the deployed spec,
 * not a running process (replicas and the secret files they get are the sandbox's tests).
 */
async function deployFunction(client: TestPlatform['client'], name: string, files: Record<string, string>, spec: Record<string, unknown>): Promise<void> {
  const { digest } = await client.uploadCode(await packDirectory(writeFunction(files)));
  await client.deploy({ service: name, runtime: 'node', code: digest, ...spec });
}

async function specOf(name: string): Promise<Record<string, unknown> & { service: string }> {
  const f = (await p.client.getFunction(name)) as unknown as Record<string, unknown>;
  return { service: name, runtime: f.runtime, code: f.code, ...(f.handler ? { handler: f.handler } : {}) };
}

test('values are encrypted at rest and never in the audit log, the gateway log or metrics', async () => {
  assert.equal((await secrets('POST', { name: 'at-rest', value: VALUE })).status, 201);
  assert.equal((await secrets('POST', { name: 'at-rest-bin', rawValue: BINARY.toString('base64') })).status, 201);
  assert.equal((await secrets('PUT', { name: 'at-rest', value: VALUE2 })).status, 200);

  const key = statSync(join(p.dataDir, 'secrets.key'));
  assert.equal(key.mode & 0o777, 0o600);
  assert.equal(key.size, 32);
  // Every byte in the data dir (database, WAL, shared memory, key, credentials, code).
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) (e.isDirectory() ? walk : (f: string) => files.push(f))(join(dir, e.name));
  };
  walk(p.dataDir);
  assert.ok(files.some((f) => f.endsWith('kss.db')));
  for (const file of files) {
    const bytes = readFileSync(file);
    for (const marker of [VALUE, VALUE2]) assert.ok(!bytes.includes(Buffer.from(marker)), `${file} holds a secret value in plain text`);
    assert.ok(!bytes.includes(BINARY), `${file} holds the binary secret`);
    assert.ok(!bytes.includes(Buffer.from(BINARY.toString('base64'))), `${file} holds the binary secret's base64`);
  }

  const { items } = await p.client.audit({ limit: 500 });
  const secretEntries = items.filter((e) => e.action.startsWith('secret.'));
  assert.ok(secretEntries.some((e) => e.action === 'secret.create' && e.target === 'at-rest' && e.status === 201));
  assert.ok(secretEntries.some((e) => e.action === 'secret.update' && e.target === 'at-rest' && e.status === 200));
  assert.ok(secretEntries.some((e) => e.action === 'secret.remove' && e.status === 409), 'refused deletes are audited too');
  assert.ok(secretEntries.some((e) => e.action === 'secret.create' && e.target === 'db-password.dev'));
  const audit = JSON.stringify(items);
  for (const marker of LEAK_MARKERS) assert.ok(!audit.includes(marker), 'no value in the audit log');

  const metrics = await (await fetch(`${p.url}/metrics`)).text();
  for (const marker of LEAK_MARKERS) assert.ok(!metrics.includes(marker), 'no value in metrics');

  const log = logLines.join('');
  assert.match(log, /"secret":"at-rest\.openfaas-fn","msg":"secret created"/, 'secret changes are logged by name');
  for (const marker of LEAK_MARKERS) assert.ok(!log.includes(marker), `no value in the gateway log (${marker})`);
  assert.ok(!log.includes(BINARY.toString('base64')));
});

test('secrets survive a restart; a wrong key stops the start with a clear error; a loose key mode is fixed with a warning', async () => {
  const dataDir = tempDir('kss-secrets-restart-');
  let q = await startTestPlatform({ dataDir, warmPool: 0 });
  await q.client.createSecret({ name: 'kept', value: VALUE });
  q = await q.restart();
  assert.equal((await q.secrets.read('openfaas-fn', ['kept'])).get('kept')!.toString(), VALUE);
  await q.close();

  const keyFile = join(dataDir, 'secrets.key');
  const original = readFileSync(keyFile);
  chmodSync(keyFile, 0o644);
  const warnings: string[] = [];
  q = await startTestPlatform({ dataDir, warmPool: 0, logger: pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) }) });
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.match(warnings.join(''), /secrets\.key was readable by other users \(mode 0644\); it is now 0600/);
  await q.close();

  writeFileSync(keyFile, Buffer.alloc(32, 1));
  await assert.rejects(startTestPlatform({ dataDir, warmPool: 0 }), /secrets\.key does not decrypt any of the 1 stored secret: it is not the key they were written with/);
  writeFileSync(keyFile, 'too short');
  await assert.rejects(startTestPlatform({ dataDir, warmPool: 0 }), /secrets\.key holds 9 bytes, but the key that encrypts secrets is exactly 32 bytes/);
  writeFileSync(keyFile, original);
  q = await startTestPlatform({ dataDir, warmPool: 0 });
  assert.deepEqual((await q.client.listSecrets()).map((s) => s.name), ['kept']);
  await q.close();
});

// ---- the CLI, as a user runs it ----

const work = tempDir('kss-secret-cli-');

function kss(args: string[], stdin = ''): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, KSS_GATEWAY: p.url, KSS_CONFIG: join(work, 'kss-config.json'), OPENFAAS_CONFIG: join(work, 'openfaas') };
  delete env.KSS_TOKEN;
  return runKss(args, { cwd: work, env, stdin });
}

test('kss secret create|update|list|remove end to end: stdin, --from-literal=, --from-file, --json; values never printed', async () => {
  const login = await kss(['login', '--password-stdin'], `${p.admin!.password}\n`);
  assert.equal(login.code, 0, login.stderr);
  const runs: Array<{ stdout: string; stderr: string }> = [];
  const run = async (args: string[], stdin = '') => {
    const r = await kss(args, stdin);
    runs.push(r);
    return r;
  };

  // `echo -n VALUE | kss secret create NAME`: stdin, byte for byte.
  const fromStdin = await run(['secret', 'create', 'cli-stdin'], 'CLI-stdin-VALUE');
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.match(fromStdin.stdout, /^Created secret cli-stdin in namespace openfaas-fn\. .*\/var\/openfaas\/secrets\/cli-stdin/);
  assert.equal((await p.secrets.read('openfaas-fn', ['cli-stdin'])).get('cli-stdin')!.toString(), 'CLI-stdin-VALUE');

  // faas-cli's `--from-literal=value` form, in another namespace, with --json.
  const literal = await run(['secret', 'create', 'cli-literal', '--from-literal=CLI-literal-VALUE', '-n', 'dev', '--json']);
  assert.equal(literal.code, 0, literal.stderr);
  assert.deepEqual(JSON.parse(literal.stdout), { name: 'cli-literal', namespace: 'dev', created: true });

  // --from-file sends the bytes as they are (binary, trailing newline kept); --trim strips whitespace.
  const file = join(work, 'key.bin');
  writeFileSync(file, Buffer.concat([BINARY, Buffer.from('\n')]));
  assert.equal((await run(['secret', 'create', 'cli-file', '--from-file', file])).code, 0);
  assert.deepEqual((await p.secrets.read('openfaas-fn', ['cli-file'])).get('cli-file'), Buffer.concat([BINARY, Buffer.from('\n')]));
  assert.equal((await run(['secret', 'create', 'cli-trim', '--trim'], '  CLI-stdin-VALUE\n')).code, 0);
  assert.equal((await p.secrets.read('openfaas-fn', ['cli-trim'])).get('cli-trim')!.toString(), 'CLI-stdin-VALUE');

  const listed = await run(['secret', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual((JSON.parse(listed.stdout) as Array<{ name: string }>).map((s) => s.name).filter((n) => n.startsWith('cli-')), ['cli-file', 'cli-stdin', 'cli-trim']);
  const table = await run(['secret', 'list']);
  assert.match(table.stdout, /^NAME\s+NAMESPACE\s+CREATED\s+UPDATED\n/);
  assert.match(table.stdout, /\ncli-stdin\s+openfaas-fn\s+\d{4}-/);
  const dev = await run(['secret', 'ls', '--namespace', 'dev']);
  assert.match(dev.stdout, /cli-literal\s+dev/);
  const none = await run(['secret', 'list', '-n', 'empty-ns']);
  assert.match(none.stdout, /No secrets in namespace empty-ns\. Create one with `kss secret create NAME --from-file PATH`/);

  const updated = await run(['secret', 'update', 'cli-stdin', '--from-literal', 'CLI-updated-VALUE']);
  assert.equal(updated.code, 0, updated.stderr);
  assert.match(updated.stdout, /Updated secret cli-stdin in namespace openfaas-fn/);
  assert.equal((await p.secrets.read('openfaas-fn', ['cli-stdin'])).get('cli-stdin')!.toString(), 'CLI-updated-VALUE');

  // Mistakes: clear messages, exit 1 for refusals, 2 for usage.
  const exists = await run(['secret', 'create', 'cli-stdin', '--from-literal', 'CLI-literal-VALUE']);
  assert.equal(exists.code, 1);
  assert.match(exists.stderr, /already exists in namespace "openfaas-fn"; change its value with `kss secret update cli-stdin` \[KSS_SECRET_EXISTS\]/);
  const missing = await run(['secret', 'update', 'nope', '--from-literal', 'CLI-literal-VALUE', '--json']);
  assert.equal(missing.code, 1);
  assert.equal(JSON.parse(missing.stderr).error.code, 'KSS_SECRET_NOT_FOUND');
  const both = await run(['secret', 'create', 'x', '--from-literal', 'CLI-literal-VALUE', '--from-file', file]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give the value once: --from-literal, --from-file, or stdin/);
  const empty = await run(['secret', 'create', 'x']);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no value for secret x: pass --from-literal VALUE or --from-file PATH, or pipe it in \(`echo -n VALUE \| kss secret create x`\)/);
  const noFile = await run(['secret', 'create', 'x', '--from-file', join(work, 'absent')]);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /cannot read .*absent: ENOENT/);
  const badName = await run(['secret', 'create', 'Bad_Name', '--from-literal', 'CLI-literal-VALUE']);
  assert.equal(badName.code, 1);
  assert.match(badName.stderr, /name: "Bad_Name" is not a valid secret name.*\[KSS_INVALID_NAME\]/);

  // In use: refused, naming the function; free again once the function is gone.
  await deployFunction(p.client, 'cli-user', { 'handler.js': ECHO_HANDLER }, { secrets: ['cli-file'] });
  const inUse = await run(['secret', 'remove', 'cli-file']);
  assert.equal(inUse.code, 1);
  assert.match(inUse.stderr, /secret "cli-file" is used by function "cli-user".*\[KSS_SECRET_IN_USE\]/);
  await p.client.removeFunction('cli-user');
  const removed = await run(['secret', 'rm', 'cli-file', 'cli-trim']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stderr, /removed secret cli-file\nremoved secret cli-trim/);
  const removedJson = await run(['secret', 'remove', 'cli-literal', '-n', 'dev', '--json']);
  assert.deepEqual(JSON.parse(removedJson.stdout), { removed: ['cli-literal'], namespace: 'dev' });
  assert.deepEqual((await p.client.listSecrets()).map((s) => s.name).filter((n) => n.startsWith('cli-')), ['cli-stdin']);

  for (const r of runs) for (const marker of LEAK_MARKERS) assert.ok(!r.stdout.includes(marker) && !r.stderr.includes(marker), `the CLI printed a value: ${r.stdout}${r.stderr}`);
});
