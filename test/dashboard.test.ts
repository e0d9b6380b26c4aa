/**
 * The dashboard end to end, in Debian's headless Chromium driven by playwright-core,
 * against a real gateway: log in (a wrong password first), deploy a function through
 * the wizard, invoke it from the test panel, watch its counter and chart move, read
 * its logs, delete it. No page may log a console error. Screenshots of every page go
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
