/**
 * The dashboard end to end, in Debian's headless Chromium driven by playwright-core,
 * against a real gateway: log in (a wrong password first), deploy a function through
 * the wizard, invoke it from the test panel, watch its counter and chart move, read
 * its logs, redeploy it (r2) and set its split, pin and roll back in the Revisions
 * tab, delete it. No page may log a console error. Screenshots of every page go
 * to test-artifacts/dashboard/ (git-ignored) for a person to look at.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestPlatform, type TestPlatform } from './helpers.js';

const CHROMIUM = process.env.KSS_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url));

let p: TestPlatform;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Console errors and uncaught page errors, with the step they happened in. */
const problems: string[] = [];
let step = 'start';
/** Failed requests a step expects (the wrong-password login answers 401, which Chromium logs). */
let expectedFailures: RegExp | undefined;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run and npm test do it as root`);
  mkdirSync(ARTIFACTS, { recursive: true });
  p = await startTestPlatform({ historyIntervalMs: 1000 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    if (expectedFailures?.test(msg.text())) return;
    problems.push(`[${step}] console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`[${step}] page error: ${err.message}`));
});

after(async () => {
  await browser?.close();
  await p?.close();
});

async function shot(name: string, target: Page = page): Promise<void> {
  await target.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const HANDLER = `export default async (req) => {
  const body = await req.text();
  console.log('handled a request with body', body);
  return { hello: 'from the dashboard', body, greeting: process.env.GREETING };
};
`;

test('a wrong password shows an error and gives no access', async () => {
  step = 'login-wrong';
  expectedFailures = /401/;
  await page.goto(`${p.url}/`);
  await page.locator('#login-username').waitFor();
  await shot('01-login');
  // By keyboard only: the form is usable without a mouse.
  await page.focus('#login-username');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'login-password', 'Tab moves from the username to the password');
  await page.keyboard.type('not-the-password');
  await page.keyboard.press('Enter');
  await page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor();
  await shot('02-login-wrong-password');
  assert.equal(await page.getByTestId('functions-table').count(), 0, 'no functions table before logging in');
  const cookies = await context.cookies();
  assert.ok(!cookies.some((c) => c.name === 'kss_session'), 'no session cookie');
  expectedFailures = undefined;
});

test('logging in shows the functions page; the session is an HttpOnly cookie, nothing in storage', async () => {
  step = 'login';
  await page.fill('#login-password', p.admin!.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('link', { name: 'Deploy' }).first().waitFor();
  await page.getByText('No functions yet').waitFor();
  await shot('03-functions-empty');
  const session = (await context.cookies()).find((c) => c.name === 'kss_session');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session?.sameSite, 'Strict');
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  assert.ok(!storage.includes(p.admin!.password) && !storage.includes(session.value), 'no credential readable by scripts');
});

test('the wizard deploys a function with edited code, an env var and limits, showing progress', async () => {
  step = 'deploy';
  await page.getByRole('link', { name: 'Deploy' }).first().click();
  await page.locator('#deploy-name').fill('hello-ui');
  await page.locator('#deploy-template').selectOption('node');
  const editor = page.locator('.cm-content').first();
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(HANDLER);
  await page.getByRole('button', { name: 'Add variable' }).click();
  await page.getByLabel('Variable name').last().fill('GREETING');
  await page.getByLabel('Variable value').last().fill('hi from env');
  await page.locator('#deploy-memory').fill('128Mi');
  await page.locator('#deploy-cpu').fill('500m');
  await shot('04-deploy-wizard');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.getByTestId('deploy-progress').waitFor();
  await page.locator('h1', { hasText: 'hello-ui' }).waitFor({ timeout: 60_000 });
  await shot('05-function-deployed');
  const status = await p.client.getFunction('hello-ui');
  assert.equal(status.envVars?.GREETING, 'hi from env');
  assert.equal(status.limits?.memory, '128Mi');
  assert.equal(status.runtime, 'node');
});

test('the test panel invokes the function and shows its reply', async () => {
  step = 'invoke';
  await page.getByRole('tab', { name: 'Test' }).click();
  await page.locator('#invoke-method').selectOption('POST');
  await page.locator('#invoke-body').fill('hello from the browser');
  await page.getByRole('button', { name: 'Invoke' }).click();
  const result = page.getByTestId('invoke-result');
  await result.waitFor();
  await page.getByTestId('invoke-status').filter({ hasText: '200' }).waitFor();
  const body = await page.getByTestId('invoke-body').textContent();
  assert.match(body ?? '', /from the dashboard/);
  assert.match(body ?? '', /hello from the browser/);
  assert.match(body ?? '', /hi from env/);
  assert.match((await page.getByTestId('invoke-cold').textContent()) ?? '', /Cold start|Warm/);
  await shot('06-invoke-result');
});

test('an async invocation is followed until it finishes', async () => {
  step = 'invoke-async';
  await page.locator('#invoke-async').check();
  await page.getByRole('button', { name: 'Invoke' }).click();
  await page.getByTestId('invoke-call-state').filter({ hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
  assert.match((await page.getByTestId('invoke-call-id').textContent()) ?? '', /\S/);
  await shot('06b-invoke-async');
  await page.locator('#invoke-async').uncheck();
  // A few more calls, so the charts have something to draw.
  for (let i = 0; i < 3; i++) {
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.getByTestId('invoke-status').filter({ hasText: '200' }).waitFor();
  }
});

test('the invocation counter and the chart change', async () => {
  step = 'metrics';
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="fn-invocations"]')?.textContent?.replace(/\D/g, '') ?? 0) >= 5, undefined, { timeout: 20_000 });
  await page.getByRole('tab', { name: 'Metrics' }).click();
  // The invocations chart: the sum of its requests-per-second points grows above zero.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="chart-rps"]')?.getAttribute('data-total')) > 0, undefined, { timeout: 30_000 });
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="chart-latency"]')?.getAttribute('data-total')) > 0, undefined, { timeout: 30_000 });
  await shot('07-function-metrics');
  await page.getByRole('link', { name: 'Functions' }).first().click();
  await page.getByTestId('function-row-hello-ui').waitFor();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="invocations-hello-ui"]')?.textContent?.replace(/\D/g, '') ?? 0) >= 1);
  await shot('08-functions-list');
});

test('the logs tab shows what the function printed', async () => {
  step = 'logs';
  await page.getByTestId('function-row-hello-ui').getByRole('link', { name: 'hello-ui' }).click();
  await page.getByRole('tab', { name: 'Logs' }).click();
  await page.getByTestId('logs').filter({ hasText: 'handled a request with body hello from the browser' }).waitFor({ timeout: 20_000 });
  await shot('09-function-logs');
});

test('a redeploy makes r2; the Revisions tab shows r1 and r2, sets a split, pins, and a rollback changes the split', async () => {
  step = 'revisions';
  await page.goto(`${p.url}/ui/#/functions/hello-ui`);
  await page.locator('h1', { hasText: 'hello-ui' }).waitFor();
  // Redeploy with another env var value: a change, so a new revision.
  await page.getByRole('button', { name: 'Edit' }).click();
  await page.locator('h1', { hasText: 'Update hello-ui' }).waitFor();
  await page.getByLabel('Variable value').last().fill('hi from r2');
  await page.getByRole('button', { name: 'Update', exact: true }).click();
  await page.getByRole('tab', { name: 'Revisions' }).waitFor({ timeout: 60_000 });
  const before = await p.client.revisions('hello-ui');
  assert.equal(before.latestRevision, 'r2');
  assert.deepEqual(before.traffic, [{ revision: 'r2', percent: 100 }]);

  await page.getByRole('tab', { name: 'Revisions' }).click();
  await page.getByTestId('revision-row-r2').waitFor();
  await page.getByTestId('revision-row-r1').waitFor();
  assert.match((await page.getByTestId('revision-row-r2').textContent()) ?? '', /latest/);
  await page.getByTestId('revision-traffic-r2').filter({ hasText: '100%' }).waitFor();
  assert.equal(await page.getByTestId('revision-traffic-r1').textContent(), '–', 'r1 is not in the split');
  // The split is in text, not colour only.
  assert.match((await page.getByTestId('split-legend').textContent()) ?? '', /r2: 100%/);
  assert.equal(await page.getByTestId('split-bar').getAttribute('aria-label'), 'Traffic split: r2 100%');
  await shot('09b-revisions');

  // The split form: the sum is shown, and saving waits until it is 100.
  await page.locator('#split-add-revision').selectOption('r1');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.locator('#split-weight-r2').fill('70');
  await page.getByTestId('split-sum').filter({ hasText: 'Sum: 70%' }).waitFor();
  assert.equal(await page.getByTestId('split-save').isDisabled(), true, 'Set split is disabled while the sum is not 100');
  await page.locator('#split-weight-r1').fill('30');
  await page.getByTestId('split-sum').filter({ hasText: 'Sum: 100%' }).waitFor();
  assert.equal(await page.getByTestId('split-save').isDisabled(), false);
  await shot('09c-revisions-split-form');
  await page.getByTestId('split-save').click();
  await page.getByTestId('revision-traffic-r1').filter({ hasText: '30%' }).waitFor();
  await page.getByTestId('revision-traffic-r2').filter({ hasText: '70%' }).waitFor();
  assert.deepEqual(
    (await p.client.revisions('hello-ui')).traffic.map((t) => `${t.revision}=${t.percent}`).sort(),
    ['r1=30', 'r2=70'],
  );

  // Pin and unpin.
  await page.getByTestId('revision-row-r1').getByRole('button', { name: 'Pin r1' }).click();
  await page.getByTestId('revision-row-r1').getByRole('button', { name: 'Unpin r1' }).waitFor();
  assert.equal((await p.client.revisions('hello-ui')).revisions.find((r) => r.revision === 'r1')?.pinned, true);
  await page.getByTestId('revision-row-r1').getByRole('button', { name: 'Unpin r1' }).click();
  await page.getByTestId('revision-row-r1').getByRole('button', { name: 'Pin r1' }).waitFor();
  assert.equal((await p.client.revisions('hello-ui')).revisions.find((r) => r.revision === 'r1')?.pinned, false);

  // Roll back to r1, with a confirmation.
  await page.getByTestId('revision-row-r1').getByRole('button', { name: 'Roll back to this: r1' }).click();
  const confirm = page.getByTestId('confirm-rollback');
  await confirm.waitFor();
  await shot('09d-rollback-confirm');
  await confirm.click();
  await page.getByTestId('revision-traffic-r1').filter({ hasText: '100%' }).waitFor();
  assert.match((await page.getByTestId('split-legend').textContent()) ?? '', /r1: 100%/);
  assert.deepEqual((await p.client.revisions('hello-ui')).traffic, [{ revision: 'r1', percent: 100 }]);
  // r1 serves again: its env var, and the header naming it.
  const res = await p.client.invoke('hello-ui', { body: 'after the rollback' });
  assert.equal(res.headers.get('x-kss-revision'), 'r1');
  assert.match(await res.text(), /hi from env/);
  await shot('09e-rolled-back');
});

test('the overview and calls pages render, also on a phone-sized screen', async () => {
  step = 'pages';
  await page.getByRole('link', { name: 'Overview' }).first().click();
  await page.waitForTimeout(500);
  await shot('10-overview');
  await page.getByRole('link', { name: 'Calls' }).first().click();
  await page.locator('#calls-state').waitFor();
  await shot('11-calls');
  const phone = await context.newPage();
  phone.on('console', (msg) => msg.type() === 'error' && problems.push(`[phone] console: ${msg.text()}`));
  phone.on('pageerror', (err) => problems.push(`[phone] page error: ${err.message}`));
  await phone.setViewportSize({ width: 375, height: 800 });
  await phone.goto(`${p.url}/ui/#/`);
  await phone.getByTestId('function-row-hello-ui').waitFor();
  assert.match((await phone.getByTestId('latest-revision-hello-ui').textContent()) ?? '', /latest revision r2$/, 'the list shows the latest revision next to the name');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page does not scroll sideways on a phone (${overflow}px too wide)`);
  await shot('12-phone-functions', phone);
  await phone.close();
});

test('deleting asks for confirmation, then the function is gone', async () => {
  step = 'delete';
  await page.goto(`${p.url}/ui/#/functions/hello-ui`);
  await page.locator('h1', { hasText: 'hello-ui' }).waitFor();
  await page.getByRole('button', { name: 'Delete' }).first().click();
  const confirm = page.getByTestId('confirm-delete');
  await confirm.waitFor();
  await shot('13-delete-confirm');
  await confirm.click();
  await page.getByText('No functions yet').waitFor();
  await shot('14-deleted');
  assert.deepEqual((await p.client.listFunctions()).map((f) => f.name), []);
});

test('no page logged a console error', () => {
  assert.deepEqual(problems, []);
});
