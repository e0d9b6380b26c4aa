/**
 * The walking skeleton, as a user does it: `kss new`, `kss deploy -f stack.yml`,
 * curl the function, `kss list`, `kss describe`, `kss invoke`, restart the gateway,
 * invoke again, `kss remove`. The CLI runs as a real process against a real gateway.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runKss, startTestPlatform, tempDir, type TestPlatform } from './helpers.js';


interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const work = tempDir('kss-cli-');
const config = join(work, 'kss-config.json');

function kss(args: string[], options: { cwd: string; gateway?: string; stdin?: string }): Promise<Run> {
  // Isolated from the user's own kss and faas-cli config.
  const env: NodeJS.ProcessEnv = { ...process.env, KSS_GATEWAY: options.gateway ?? '', KSS_CONFIG: config, OPENFAAS_CONFIG: join(work, 'openfaas') };
  delete env.KSS_TOKEN;
  if (!options.gateway) delete env.KSS_GATEWAY;
  return runKss(args, { cwd: options.cwd, env, stdin: options.stdin });
}

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
});
after(async () => {
  await platform.close();
});

test('a new user creates, deploys, calls, lists, describes, restarts and removes a function', async () => {
  const gateway = platform.url;

  const denied = await kss(['list'], { cwd: work, gateway });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /credentials required: run `kss login`.*\[KSS_UNAUTHORIZED\]/);
  const wrong = await kss(['login', '--password-stdin'], { cwd: work, gateway, stdin: 'not-the-password\n' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /user name or password was not accepted/);
  const login = await kss(['login', '--password-stdin'], { cwd: work, gateway, stdin: `${platform.admin!.password}\n` });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(statSync(config).mode & 0o777, 0o600);

  const created = await kss(['new', 'hello', '--lang', 'node'], { cwd: work });
  assert.equal(created.code, 0, created.stderr);
  assert.ok(existsSync(join(work, 'hello', 'handler.js')));
  const stack = readFileSync(join(work, 'stack.yml'), 'utf8');
  assert.match(stack, /hello:\n\s+lang: node\n\s+handler: \.\/hello/);

  const deployed = await kss(['deploy', '-f', 'stack.yml'], { cwd: work, gateway });
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.match(deployed.stdout, new RegExp(`URL: ${gateway}/function/hello`));
  assert.match(deployed.stderr, /hello: waiting for a ready replica/);

  const res = await fetch(`${gateway}/function/hello`, { method: 'POST', body: 'world' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'Hello, world!\n');

  const list = await kss(['list', '--json'], { cwd: work, gateway });
  assert.equal(list.code, 0, list.stderr);
  const items = JSON.parse(list.stdout) as Array<{ name: string; runtime: string; replicas: number; availableReplicas: number; invocationCount: number }>;
  assert.equal(items.length, 1);
  assert.deepEqual({ ...items[0], ...{} }.name, 'hello');
  assert.equal(items[0]!.runtime, 'node');
  assert.equal(items[0]!.availableReplicas, 1);
  assert.equal(items[0]!.invocationCount, 1);

  const table = await kss(['list'], { cwd: work, gateway });
  assert.match(table.stdout, /NAME\s+RUNTIME\s+READY\s+INVOCATIONS/);
  assert.match(table.stdout, /hello\s+node\s+1\/1\s+1/);

  const described = await kss(['describe', 'hello'], { cwd: work, gateway });
  assert.equal(described.code, 0, described.stderr);
  assert.match(described.stdout, /Replicas:\s+1\/1 ready/);
  assert.match(described.stdout, /URL:\s+http:\/\/127\.0\.0\.1:\d+\/function\/hello/);

  const invoked = await kss(['invoke', 'hello'], { cwd: work, gateway, stdin: 'from stdin' });
  assert.equal(invoked.code, 0, invoked.stderr);
  assert.equal(invoked.stdout, 'Hello, from stdin!\n');

  // Restart: every deployed function comes back, invocable at once.
  platform = await platform.restart();
  const again = await fetch(`${platform.url}/function/hello`, { method: 'POST', body: 'again' });
  assert.equal(again.status, 200);
  assert.equal(await again.text(), 'Hello, again!\n');

  const removed = await kss(['remove', 'hello'], { cwd: work, gateway: platform.url });
  assert.equal(removed.code, 0, removed.stderr);
  const gone = await fetch(`${platform.url}/function/hello`, { method: 'POST', body: 'x' });
  assert.equal(gone.status, 404);
  assert.equal(gone.headers.get('x-kss-error'), 'KSS_FUNCTION_NOT_FOUND');
});

test('CLI errors are clear and exit non-zero', async () => {
  const unreachable = await kss(['list'], { cwd: work, gateway: 'http://127.0.0.1:9' });
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach the gateway at http:\/\/127\.0\.0\.1:9/);

  const unknown = await kss(['describe', 'nope'], { cwd: work, gateway: platform.url });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /function "nope" not found .*\[KSS_FUNCTION_NOT_FOUND\]/);

  const json = await kss(['describe', 'nope', '--json'], { cwd: work, gateway: platform.url });
  assert.equal(JSON.parse(json.stderr).error.code, 'KSS_FUNCTION_NOT_FOUND');

  const badLang = await kss(['new', 'x', '--lang', 'cobol'], { cwd: work });
  assert.equal(badLang.code, 2);
  assert.match(badLang.stderr, /no template "cobol"; available: (\w+, )*node, (\w+, )*python\b/);

  const badName = await kss(['new', 'Bad_Name', '--lang', 'node'], { cwd: work });
  assert.equal(badName.code, 2);
  assert.match(badName.stderr, /not a valid name/);

  const noStack = await kss(['deploy', '-f', 'missing.yml'], { cwd: work, gateway: platform.url });
  assert.equal(noStack.code, 2);
  assert.match(noStack.stderr, /cannot read missing\.yml/);
});

test('kss template list, kss build (errors before deploying), kss logs --build', async () => {
  const gateway = platform.url;
  const templates = await kss(['template', 'list', '--json'], { cwd: work });
  assert.equal(templates.code, 0, templates.stderr);
  assert.ok((JSON.parse(templates.stdout) as Array<{ lang: string }>).some((t) => t.lang === 'node'));

  const created = await kss(['new', 'broken', '--lang', 'node', '-f', 'broken.yml'], { cwd: work });
  assert.equal(created.code, 0, created.stderr);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(work, 'broken', 'handler.js'), 'export const nothing = 1;\n');
  const built = await kss(['build', '-f', 'broken.yml'], { cwd: work, gateway });
  assert.equal(built.code, 1);
  assert.match(built.stderr, /broken: build failed \[KSS_INVALID_HANDLER\]/);
  assert.match(built.stderr, /export default async \(req\)/);

  writeFileSync(join(work, 'broken', 'handler.js'), 'export default async () => "fixed";\n');
  const rebuilt = await kss(['build', '-f', 'broken.yml'], { cwd: work, gateway });
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  assert.match(rebuilt.stderr, /broken: built in/);
  const deployed = await kss(['deploy', '-f', 'broken.yml'], { cwd: work, gateway });
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.match(deployed.stderr, /broken: build unchanged, reused/);
  const log = await kss(['logs', '--build', 'broken'], { cwd: work, gateway });
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /build succeeded/);
});
