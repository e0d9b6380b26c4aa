/**
 * Revisions from the command line, as a user does it against a real gateway:
 * `kss deploy` twice (r1, r2), `kss revisions`, `kss rollback`, `kss traffic` (bad
 * weights refused before anything is sent), a request pinned to a revision, `--pin`,
 * and `kss deploy --canary` shifting a third revision to 100% step by step while it
 * serves requests, with its decisions in `kss logs`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKss, startTestPlatform, tempDir, type CliRun, type TestPlatform } from './helpers.js';

const work = tempDir('kss-revisions-cli-');
const config = join(work, 'kss-config.json');
let platform: TestPlatform;

function kss(args: string[], stdin?: string): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, KSS_GATEWAY: platform.url, KSS_CONFIG: config, OPENFAAS_CONFIG: join(work, 'openfaas') };
  delete env.KSS_TOKEN;
  return runKss(args, { cwd: work, env, stdin });
}

function ok(run: CliRun, what: string): CliRun {
  assert.equal(run.code, 0, `${what}: ${run.stderr}`);
  return run;
}

before(async () => {
  platform = await startTestPlatform();
  ok(await kss(['login', '--password-stdin'], `${platform.admin!.password}\n`), 'login');
  ok(await kss(['new', 'hello', '--lang', 'node']), 'new');
  // The reply names the version, so each revision's answer is told apart.
  writeFileSync(join(work, 'hello', 'handler.js'), 'export default async () => `version ${process.env.VERSION}`;\n');
});
after(async () => {
  await platform?.close();
});

async function call(path = 'hello', headers: Record<string, string> = {}): Promise<{ status: number; revision: string | null; text: string }> {
  const res = await fetch(`${platform.url}/function/${path}`, { method: 'POST', body: 'x', headers });
  return { status: res.status, revision: res.headers.get('x-kss-revision'), text: await res.text() };
}

test('two deploys make r1 and r2; revisions lists them; rollback, traffic and pinning change the split', async () => {
  const first = ok(await kss(['deploy', '-f', 'stack.yml', '-e', 'VERSION=1']), 'deploy r1');
  assert.match(first.stdout, /Revision: r1 created; traffic r1 100%/);
  const second = ok(await kss(['deploy', '-f', 'stack.yml', '-e', 'VERSION=2']), 'deploy r2');
  assert.match(second.stdout, /Revision: r2 created; traffic r2 100%/);
  const same = ok(await kss(['deploy', '-f', 'stack.yml', '-e', 'VERSION=2']), 'deploy unchanged');
  assert.match(same.stdout, /Revision: r2 \(unchanged: this deploy changed nothing, so no new revision\)/);
  assert.deepEqual(await call(), { status: 200, revision: 'r2', text: 'version 2' });

  const listed = ok(await kss(['revisions', 'hello']), 'revisions');
  assert.match(listed.stdout, /hello \(openfaas-fn\): latest r2; traffic r2 100%/);
  assert.match(listed.stdout, /REVISION\s+CREATED\s+BY\s+CODE\s+TRAFFIC\s+REPLICAS\s+PINNED/);
  assert.match(listed.stdout, /r2 \(latest\)\s+\S+ ago\s+admin\s+[0-9a-f]{12}\s+100%\s+1\/1\s+-/);
  assert.match(listed.stdout, /\nr1\s+\S+ ago\s+admin\s+[0-9a-f]{12}\s+-\s+\d\/\d\s+-/);
  const json = JSON.parse(ok(await kss(['revisions', 'hello', '--json']), 'revisions --json').stdout) as { latestRevision: string; revisions: Array<{ revision: string }> };
  assert.equal(json.latestRevision, 'r2');
  assert.deepEqual(json.revisions.map((r) => r.revision), ['r2', 'r1']);

  const rolled = ok(await kss(['rollback', 'hello']), 'rollback');
  assert.match(rolled.stdout, /hello: rolled back to r1\nTraffic: r1 100%/);
  assert.match(rolled.stderr, /Before: r2 100%\. Undo with `kss traffic hello r2=100`/);
  assert.deepEqual(await call(), { status: 200, revision: 'r1', text: 'version 1' });

  // Refused before anything is sent, exit 2.
  const bad = await kss(['traffic', 'hello', 'r1=90', 'r2=20']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /the weights add up to 110, not 100 \(10 too many\)/);
  const malformed = await kss(['traffic', 'hello', 'two=100']);
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /"two" is not a revision/);
  const unknown = await kss(['traffic', 'hello', 'r9=100']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /r9.*kss revisions hello.*\[KSS_REVISION_NOT_FOUND\]/);

  const split = ok(await kss(['traffic', 'hello', 'r1=90', 'r2=10']), 'traffic');
  assert.match(split.stdout, /hello: traffic set\nTraffic: r2 10%, r1 90%|hello: traffic set\nTraffic: r1 90%, r2 10%/);
  const shown = ok(await kss(['traffic', 'hello', '--json']), 'traffic (show)');
  assert.deepEqual((JSON.parse(shown.stdout) as { traffic: Array<{ revision: string; percent: number }> }).traffic.map((t) => `${t.revision}=${t.percent}`).sort(), ['r1=90', 'r2=10']);
  // A request names its revision: by path or by header.
  assert.deepEqual(await call('hello@r2'), { status: 200, revision: 'r2', text: 'version 2' });
  assert.deepEqual(await call('hello', { 'x-kss-revision': 'r1' }), { status: 200, revision: 'r1', text: 'version 1' });

  const pinned = ok(await kss(['revisions', 'hello', '--pin', 'r1']), 'pin');
  assert.match(pinned.stdout, /hello: r1 pinned/);
  assert.match(ok(await kss(['revisions', 'hello']), 'revisions').stdout, /\nr1\s+.*\s+yes\n?/);
  assert.match(ok(await kss(['revisions', 'hello', '--unpin', 'r1']), 'unpin').stdout, /hello: r1 unpinned/);
  const badPin = await kss(['revisions', 'hello', '--pin', 'one']);
  assert.equal(badPin.code, 2);

  ok(await kss(['traffic', 'hello', 'r2=100']), 'traffic r2=100');
});

test('kss deploy --canary starts the new revision at its first share and steps it to 100% while it serves well', async () => {
  const noCanary = await kss(['deploy', '-f', 'stack.yml', '--step', '50%/1s']);
  assert.equal(noCanary.code, 2);
  assert.match(noCanary.stderr, /--step applies only to a canary deploy: add --canary 10%/);
  const badCanary = await kss(['deploy', '-f', 'stack.yml', '--canary', '150%']);
  assert.equal(badCanary.code, 2);

  const deployed = ok(await kss(['deploy', '-f', 'stack.yml', '-e', 'VERSION=3', '--canary', '10%', '--step', '50%/1s', '--max-error-rate', '5%', '--max-p99', '2s']), 'canary deploy');
  assert.match(deployed.stdout, /Revision: r3 created; traffic (r3 10%, r2 90%|r2 90%, r3 10%)/);
  assert.match(deployed.stdout, /Canary: r3 has 10% \(r2 the rest\); \+50% .* if its error rate stays ≤ 5% and p99 ≤ 2s, else all back to r2/);
  const status = await platform.client.getFunction('hello');
  assert.equal(status.annotations?.['kss.canary'], '10%, step=50%/1s, max-error-rate=5%, max-p99=2s');

  // Requests keep flowing (a step without requests holds); the canary reaches 100% and ends.
  const deadline = Date.now() + 60_000;
  let view = await platform.client.revisions('hello');
  while (view.canary && Date.now() < deadline) {
    for (let i = 0; i < 10; i++) assert.equal((await call()).status, 200);
    view = await platform.client.revisions('hello');
  }
  assert.equal(view.canary, null, 'the canary finished');
  assert.deepEqual(view.traffic, [{ revision: 'r3', percent: 100 }]);
  assert.deepEqual(await call(), { status: 200, revision: 'r3', text: 'version 3' });
  const logs = ok(await kss(['logs', 'hello', '--tail', '200']), 'logs');
  assert.match(logs.stdout, /r3/);
  assert.match(logs.stdout, /canary/i);
});
