/** Property-based fuzzing of the stack.yml reader: any text yields a stack or a KSS_INVALID_YAML naming the file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isKssError } from '../core/index.js';
import { parseStackFile } from './stack-file.js';

const RUNS = Number(process.env.KSS_FUZZ_RUNS ?? (process.env.CI ? 3_000 : 1_000));

test(`stack.yml fuzzing (${RUNS} cases): parse or a clear KSS_INVALID_YAML, never a crash`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kss-stackfuzz-'));
  mkdirSync(join(dir, 'fn'));
  const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom('./fn', 'node', 'node20', 'cobol', '${X:-./fn}', '*anchor', '&a x', '[', '{'));
  const fnEntry = fc.dictionary(fc.constantFrom('lang', 'handler', 'image', 'environment', 'labels', 'annotations', 'limits', 'secrets', 'timeout', 'runtime', 'fprocess', 'namespace'), fc.oneof(scalar, fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 }), fc.array(scalar, { maxLength: 3 })), { maxKeys: 6 });
  const doc = fc.record({ version: scalar, provider: fc.oneof(scalar, fc.record({ gateway: scalar })), functions: fc.oneof(scalar, fc.dictionary(fc.oneof(fc.constantFrom('hello', 'Bad', ''), fc.string({ maxLength: 8 })), fnEntry, { maxKeys: 3 })) }, { requiredKeys: [] });
  const text = fc.oneof(
    doc.map((d) => JSON.stringify(d)),
    doc.map((d) => toYaml(d)),
    fc.string({ maxLength: 300 }),
    fc.constantFrom('a: &x [*x]', 'a: !!binary xyz', '%YAML 9.9\n---', 'functions:\n  a: *nope', `a: ${'['.repeat(200)}`),
  );
  fc.assert(
    fc.property(text, (t) => {
      try {
        const stack = parseStackFile(t, dir, 'stack.yml', {});
        for (const f of stack.functions) {
          assert.match(f.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
          assert.equal(typeof f.spec.service, 'string');
        }
      } catch (err) {
        assert.ok(isKssError(err), `not a catalogue error: ${String(err)}`);
        assert.equal(err.code, 'KSS_INVALID_YAML');
        assert.match(err.message, /^stack\.yml: /);
      }
    }),
    { numRuns: RUNS },
  );
});

function toYaml(value: unknown, indent = ''): string {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).map(([k, v]) => (v && typeof v === 'object' ? `${indent}${k}:\n${toYaml(v, `${indent}  `)}` : `${indent}${k}: ${String(v)}`)).join('\n');
  }
  if (Array.isArray(value)) return value.map((v) => `${indent}- ${String(v)}`).join('\n');
  return `${indent}${String(value)}`;
}
