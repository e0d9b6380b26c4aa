import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KssError } from '../core/index.js';
import { parseStackFile, runtimeForLang, substituteEnv } from './stack-file.js';

function dirWith(...folders: string[]): string {
  const d = mkdtempSync(join(tmpdir(), 'kss-stack-'));
  for (const f of folders) mkdirSync(join(d, f), { recursive: true });
  writeFileSync(join(d, 'hello', 'handler.js'), 'export default () => 1');
  return d;
}

test('a faas-cli stack file reads into deploy specs', () => {
  const dir = dirWith('hello');
  const stack = parseStackFile(
    `version: 1.0
provider:
  name: openfaas
  gateway: \${GW:-http://127.0.0.1:8080}
functions:
  hello:
    lang: node20
    handler: ./hello
    image: \${REGISTRY:-docker.io}/hello:latest
    environment:
      write_debug: true
      RETRIES: 3
    labels:
      com.openfaas.scale.min: 2
    annotations:
      topic: orders
    limits:
      memory: 128Mi
    timeout: 30s
`,
    dir,
    'stack.yml',
    { REGISTRY: 'ghcr.io/me' },
  );
  assert.equal(stack.gateway, 'http://127.0.0.1:8080');
  assert.equal(stack.functions.length, 1);
  const f = stack.functions[0]!;
  assert.equal(f.name, 'hello');
  assert.equal(f.runtime, 'node');
  assert.equal(f.codeDir, join(dir, 'hello'));
  assert.deepEqual(f.spec, {
    service: 'hello',
    runtime: 'node',
    image: 'ghcr.io/me/hello:latest',
    envVars: { write_debug: 'true', RETRIES: '3' },
    labels: { 'com.openfaas.scale.min': '2' },
    annotations: { topic: 'orders' },
    limits: { memory: '128Mi' },
    timeout: '30s',
  });
});

test('a handler naming a file packages its folder with that entry', () => {
  const dir = dirWith('hello');
  const f = parseStackFile('functions:\n  hello:\n    lang: node\n    handler: ./hello/handler.js\n', dir).functions[0]!;
  assert.equal(f.codeDir, join(dir, 'hello'));
  assert.equal(f.entry, 'handler.js');
  assert.equal(f.spec.handler, 'handler.js');
});

test('bad stack files are rejected naming the file and field', () => {
  const dir = dirWith('hello');
  const cases: Array<[string, RegExp]> = [
    ['functions: [unclosed', /stack\.yml: not valid YAML at line 1/],
    ['- a\n- b', /\(top level\)/],
    ['functions: {}', /functions: expected at least one/],
    ['functions:\n  Bad_Name:\n    lang: node\n    handler: ./hello', /functions\.Bad_Name/],
    ['functions:\n  a:\n    handler: ./hello', /functions\.a\.lang: required/],
    ['functions:\n  a:\n    lang: cobol\n    handler: ./hello', /functions\.a\.lang: "cobol" is not a known language/],
    ['functions:\n  a:\n    lang: node', /functions\.a\.handler: required/],
    ['functions:\n  a:\n    lang: node\n    handler: ./missing', /functions\.a\.handler: \.\/missing does not exist/],
    ['provider:\n  gateway: ftp://x\nfunctions:\n  a:\n    lang: node\n    handler: ./hello', /provider\.gateway/],
    ['functions:\n  a:\n    lang: node\n    handler: ./hello\n    environment: [1]', /functions\.a\.environment/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseStackFile(text, dir), (e: unknown) => e instanceof KssError && e.code === 'KSS_INVALID_YAML' && pattern.test(e.message), text);
  }
});

test('env substitution and lang names', () => {
  assert.equal(substituteEnv('${A}-${B:-dflt}-${C:-}', { A: 'x' }), 'x-dflt-');
  assert.equal(runtimeForLang('node18'), 'node');
  assert.equal(runtimeForLang('python3-http'), 'python');
  assert.equal(runtimeForLang('golang-middleware'), 'go');
  assert.equal(runtimeForLang('bash'), 'exec');
  assert.equal(runtimeForLang('cobol'), undefined);
});

test('environment_file: files read relative to the stack file, merged in order; a file wins over environment: (as faas-cli)', () => {
  const dir = dirWith('hello', 'config');
  writeFileSync(join(dir, 'config', 'base.yml'), 'environment:\n  DB_HOST: base.local\n  DB_PORT: 5432\n  SHARED: from-base\n  EMPTY:\n');
  writeFileSync(join(dir, 'config', 'prod.yml'), 'environment:\n  DB_HOST: prod.local\n  DEBUG: false\n');
  const stack = parseStackFile(
    `functions:
  hello:
    lang: node
    handler: ./hello
    environment:
      SHARED: from-stack
      OWN: yes-own
    environment_file:
      - config/base.yml
      - ./config/prod.yml
    secrets:
      - db-password
`,
    dir,
  );
  assert.deepEqual(stack.functions[0]!.spec.envVars, { SHARED: 'from-base', OWN: 'yes-own', DB_HOST: 'prod.local', DB_PORT: '5432', EMPTY: '', DEBUG: 'false' });
  assert.deepEqual(stack.functions[0]!.spec.secrets, ['db-password'], 'secrets: flows to the spec');

  const only = parseStackFile('functions:\n  hello:\n    lang: node\n    handler: ./hello\n    environment_file: [config/base.yml]\n', dir);
  assert.equal((only.functions[0]!.spec.envVars as Record<string, string>).DB_PORT, '5432');
});

test('environment_file errors name the stack file, the field and the env file', () => {
  const dir = dirWith('hello');
  writeFileSync(join(dir, 'list.yml'), '- a\n- b\n');
  writeFileSync(join(dir, 'noenv.yml'), 'other:\n  A: 1\n');
  writeFileSync(join(dir, 'nested.yml'), 'environment:\n  A:\n    B: 1\n');
  writeFileSync(join(dir, 'broken.yml'), 'environment:\n  A: [1\n');
  writeFileSync(join(dir, 'empty.yml'), '');
  const bad = (envFile: string, message: RegExp) =>
    assert.throws(
      () => parseStackFile(`functions:\n  hello:\n    lang: node\n    handler: ./hello\n    environment_file: ${envFile}\n`, dir),
      (e: unknown) => e instanceof KssError && e.code === 'KSS_INVALID_YAML' && message.test(e.message),
      envFile,
    );
  bad('[missing.yml]', /^stack\.yml: functions\.hello\.environment_file: missing\.yml does not exist \(paths are relative to stack\.yml's folder\)/);
  bad('[list.yml]', /environment_file: list\.yml: expected a top-level `environment:` mapping/);
  bad('[noenv.yml]', /noenv\.yml: expected a top-level `environment:` mapping/);
  bad('[empty.yml]', /empty\.yml: expected a top-level `environment:` mapping/);
  bad('[nested.yml]', /nested\.yml: environment\.A: expected a plain value/);
  bad('[broken.yml]', /broken\.yml: not valid YAML at line \d+/);
  bad('{a: 1}', /environment_file: expected a list of YAML files/);
  bad('[42]', /environment_file: expected a list of YAML files/);
});

test('triggers: a list in stack.yml goes to the spec as written (parsed by the gateway)', () => {
  const dir = dirWith('hello');
  const stack = parseStackFile(
    `functions:
  hello:
    lang: node
    handler: ./hello
    triggers:
      - type: cron
        schedule: "*/5 * * * *"
        timezone: Europe/Berlin
      - type: mqtt
        url: mqtt://127.0.0.1:1883
        topic: meters/+/reading
        credentials: mqtt-login
`,
    dir,
  );
  assert.deepEqual(stack.functions[0]!.spec.triggers, [
    { type: 'cron', schedule: '*/5 * * * *', timezone: 'Europe/Berlin' },
    { type: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'meters/+/reading', credentials: 'mqtt-login' },
  ]);
});
