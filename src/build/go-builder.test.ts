/**
 * The Go builder and the Go runtime it compiles in: real `go build`s of temporary
 * function folders (made read-only, as the code store keeps them), error messages
 * with relative file:line and no internal paths, and the compiled binary's own
 * behaviour (panics, metrics, drain, orphan guard).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KssError, type FunctionSpec } from '../core/index.js';
import { GO_BINARY, GoBuilder } from './go-builder.js';

// Shared with the integration tests: only the first Go build compiles the standard library.
process.env.KSS_GO_CACHE ??= join(tmpdir(), 'kss-test-go-cache');

const roots: string[] = [];
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of roots) {
    makeWritable(r);
    rmSync(r, { recursive: true, force: true });
  }
});

function makeWritable(dir: string): void {
  if (!existsSync(dir)) return;
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) makeWritable(join(dir, e.name));
}

/** Read-only everything under `dir`, as the code store's trees. */
function makeReadOnly(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) makeReadOnly(p);
    else chmodSync(p, 0o444);
  }
  chmodSync(dir, 0o555);
}

interface Built {
  outDir: string;
  log: string[];
}

async function build(files: Record<string, string>, spec: Partial<FunctionSpec> = {}): Promise<Built> {
  const root = mkdtempSync(join(tmpdir(), 'kss-go-build-'));
  roots.push(root);
  const sourceDir = join(root, 'source');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(sourceDir, path)), { recursive: true });
    writeFileSync(join(sourceDir, path), text);
  }
  mkdirSync(sourceDir, { recursive: true });
  makeReadOnly(sourceDir);
  // As the build service: outDir is a fresh folder inside the builds folder.
  const outDir = join(root, 'builds', '.key.tmp-1');
  mkdirSync(outDir, { recursive: true });
  const log: string[] = [];
  await new GoBuilder().build({
    spec: { service: 'fn', namespace: 'openfaas-fn', image: 'x', runtime: 'go', timeout: 60, ...spec },
    sourceDir,
    outDir,
    log: (l) => log.push(l),
    signal: new AbortController().signal,
  });
  return { outDir, log };
}

async function buildError(files: Record<string, string>, spec: Partial<FunctionSpec> = {}): Promise<KssError> {
  try {
    await build(files, spec);
  } catch (err) {
    assert.ok(err instanceof KssError, String(err));
    assert.doesNotMatch(err.message, /\/tmp\/|kss-go-build-|\.tmp-/, 'no internal paths in the message');
    return err;
  }
  assert.fail('the build should have failed');
}

const HELLO = `package main

import (
	"io"
	"net/http"
	"time"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/panic":
		panic("secret-internal-detail")
	case "/slow":
		time.Sleep(600 * time.Millisecond)
		io.WriteString(w, "slow done")
	default:
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-From", "go")
		io.WriteString(w, "Hello, "+string(body)+"!")
	}
}
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Running {
  base: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | string>;
}

async function run(outDir: string, env: Record<string, string> = {}): Promise<Running> {
  const port = await freePort();
  const child = spawn(join(outDir, GO_BINARY), [], {
    cwd: outDir,
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', KSS_FUNCTION_NAME: 'fn', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      if ((await fetch(`${base}/ready`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) assert.fail(`the runtime did not become ready: ${err}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return { base, child, stdout: () => out, stderr: () => err, exited };
}

describe('GoBuilder', () => {
  test('builds handler.go (package main, no go.mod) into one binary from a read-only tree', async () => {
    const { outDir, log } = await build({ 'handler.go': HELLO });
    assert.ok(statSync(join(outDir, GO_BINARY)).mode & 0o111, 'the binary is executable');
    assert.ok(log.some((l) => /module function/.test(l)), 'a go.mod was generated');
    assert.ok(log.some((l) => /go build -trimpath/.test(l)));
    const r = await run(outDir);
    const res = await fetch(`${r.base}/x`, { method: 'POST', body: 'go' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-from'), 'go');
    assert.equal(await res.text(), 'Hello, go!');
    r.child.kill('SIGTERM');
    assert.equal(await r.exited, 0);
  });

  test('a compile error is KSS_BUILD_FAILED with handler.go:LINE:COL and the message', async () => {
    const err = await buildError({
      'handler.go': 'package main\n\nimport "net/http"\n\nfunc Handle(w http.ResponseWriter, r *http.Request) {\n\tnotDefined()\n}\n',
    });
    assert.equal(err.code, 'KSS_BUILD_FAILED');
    assert.match(err.message, /^handler\.go:6:2: undefined: notDefined$/m);
  });

  test('a third-party import fails offline, with a hint to vendor it', async () => {
    const err = await buildError({
      'handler.go': 'package main\n\nimport (\n\t"net/http"\n\n\t"github.com/example/notvendored"\n)\n\nfunc Handle(w http.ResponseWriter, r *http.Request) { notvendored.Do() }\n',
    });
    assert.equal(err.code, 'KSS_BUILD_FAILED');
    assert.match(err.message, /github\.com\/example\/notvendored/);
    assert.match(err.message, /go mod vendor/);
  });

  test('handler.go without func Handle is KSS_INVALID_HANDLER naming the file and the signature', async () => {
    const err = await buildError({ 'handler.go': 'package main\n\nimport "net/http"\n\nfunc Handler(w http.ResponseWriter, r *http.Request) {}\n' });
    assert.equal(err.code, 'KSS_INVALID_HANDLER');
    assert.match(err.message, /handler\.go/);
    assert.match(err.message, /func Handle\(w http\.ResponseWriter, r \*http\.Request\)/);
  });

  test('a Handle with the wrong signature is KSS_INVALID_HANDLER saying what it is', async () => {
    const err = await buildError({ 'handler.go': 'package main\n\nimport "net/http"\n\nfunc Handle(w http.ResponseWriter) {}\n' });
    assert.equal(err.code, 'KSS_INVALID_HANDLER');
    assert.match(err.message, /handler\.go: Handle must be func Handle\(w http\.ResponseWriter, r \*http\.Request\); it is func\(w http\.ResponseWriter\)/);
  });

  test('a folder without Go code, or a func main of its own, is KSS_INVALID_HANDLER', async () => {
    const none = await buildError({ 'README.md': 'nothing' });
    assert.equal(none.code, 'KSS_INVALID_HANDLER');
    assert.match(none.message, /handler\.go: not found/);
    const withMain = await buildError({ 'handler.go': `${HELLO}\nfunc main() {}\n` });
    assert.equal(withMain.code, 'KSS_INVALID_HANDLER');
    assert.match(withMain.message, /handler\.go:\d+: func main belongs to the runtime/);
  });

  test("OpenFaaS' golang-middleware layout (package function, own go.mod, helper package) works", async () => {
    const { outDir } = await build({
      'go.mod': 'module handler/function\n\ngo 1.18\n',
      'handler.go':
        'package function\n\nimport (\n\t"net/http"\n\n\t"handler/function/greet"\n)\n\nfunc Handle(w http.ResponseWriter, r *http.Request) {\n\tw.Write([]byte(greet.Hello("openfaas")))\n}\n',
      'greet/greet.go': 'package greet\n\nfunc Hello(who string) string { return "hello " + who }\n',
    });
    const r = await run(outDir);
    assert.equal(await (await fetch(`${r.base}/`)).text(), 'hello openfaas');
    r.child.kill('SIGTERM');
    assert.equal(await r.exited, 0);
  });

  test('spec.handler can name the Go file in a subfolder', async () => {
    const { outDir } = await build({ 'fn/main_handler.go': HELLO, 'go.mod': 'module example.com/fn\n\ngo 1.19\n' }, { handler: 'fn/main_handler.go' });
    const r = await run(outDir);
    assert.equal(await (await fetch(`${r.base}/`, { method: 'POST', body: 'sub' })).text(), 'Hello, sub!');
    r.child.kill('SIGKILL');
  });
});

describe('Go runtime (the compiled wrapper)', () => {
  let outDir: string;

  test('a panic is a 500 "Internal Server Error"; the panic goes to stderr; the process keeps serving', async () => {
    outDir = (await build({ 'handler.go': HELLO })).outDir;
    const r = await run(outDir);
    const res = await fetch(`${r.base}/panic`);
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.equal(text, 'Internal Server Error');
    // stderr arrives through a pipe: give it a moment under load.
    for (let i = 0; i < 100 && !/panicked/.test(r.stderr()); i++) await new Promise((done) => setTimeout(done, 20));
    assert.match(r.stderr(), /panicked on GET \/panic \(answered 500\): secret-internal-detail/);
    assert.match(r.stderr(), /handler\.go:\d+/, 'the stack is logged');
    assert.equal((await fetch(`${r.base}/ok`)).status, 200);
    const metrics = await (await fetch(`${r.base}/metrics`)).text();
    assert.match(metrics, /^runtime_requests_total\{code="500"\} 1$/m);
    assert.match(metrics, /^runtime_requests_total\{code="200"\} 1$/m);
    assert.match(metrics, /^runtime_request_duration_seconds_count 2$/m);
    assert.match(metrics, /^runtime_requests_in_flight 0$/m);
    assert.equal(await (await fetch(`${r.base}/health`)).text(), '{"status":"ok"}');
    r.child.kill('SIGKILL');
  });

  test('SIGTERM drains in-flight requests and exits 0', async () => {
    const r = await run(outDir);
    const slow = fetch(`${r.base}/slow`).then(async (res) => [res.status, await res.text()]);
    await new Promise((res) => setTimeout(res, 150));
    r.child.kill('SIGTERM');
    assert.deepEqual(await slow, [200, 'slow done']);
    assert.equal(await r.exited, 0);
    assert.match(r.stdout(), /SIGTERM: draining 1 in-flight request/);
  });

  test('with KSS_PARENT_PIPE=1 it exits when stdin closes (the platform died)', async () => {
    const r = await run(outDir, { KSS_PARENT_PIPE: '1' });
    r.child.stdin!.end();
    assert.equal(await r.exited, 0);
    assert.match(r.stdout(), /the platform went away/);
  });

  test('a bad PORT exits 2', async () => {
    const child = spawn(join(outDir, GO_BINARY), [], { env: { PORT: 'nope' }, stdio: 'ignore' });
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 2);
  });
});
