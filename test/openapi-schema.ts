/**
 * Checks JSON values against the schemas of the OpenFaaS gateway spec
 * (test/fixtures/openfaas-spec.openapi.yml, copied unchanged from openfaas/faas).
 * Covers the OpenAPI subset that spec uses: type, required, properties, items,
 * additionalProperties, allOf, nullable, $ref, format integer.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

type Schema = Record<string, unknown>;

const spec = parse(readFileSync(new URL('../../test/fixtures/openfaas-spec.openapi.yml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, Schema> };
};

export const openfaasSpec = spec;

/** Returns a list of problems (empty when `value` matches the named component schema). */
export function validateAgainst(schemaName: string, value: unknown): string[] {
  const schema = spec.components.schemas[schemaName];
  if (!schema) throw new Error(`no schema ${schemaName}`);
  const problems: string[] = [];
  check(schema, value, schemaName, problems);
  return problems;
}

function resolveRef(s: Schema): Schema {
  const ref = s.$ref as string | undefined;
  return ref ? spec.components.schemas[ref.replace('#/components/schemas/', '')]! : s;
}

function check(raw: Schema, value: unknown, at: string, problems: string[]): void {
  const s = resolveRef(raw);
  if (value === null) {
    if (!s.nullable) problems.push(`${at}: null but not nullable`);
    return;
  }
  if (Array.isArray(s.allOf)) for (const sub of s.allOf as Schema[]) check(sub, value, at, problems);
  const type = s.type as string | undefined;
  if (type === 'object') {
    if (typeof value !== 'object' || Array.isArray(value)) return void problems.push(`${at}: expected object`);
    const o = value as Record<string, unknown>;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in o)) problems.push(`${at}.${r}: required`);
    const props = (s.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, v] of Object.entries(o)) {
      if (props[k]) check(props[k]!, v, `${at}.${k}`, problems);
      else if (s.additionalProperties && typeof s.additionalProperties === 'object') check(s.additionalProperties as Schema, v, `${at}.${k}`, problems);
    }
  } else if (type === 'array') {
    if (!Array.isArray(value)) return void problems.push(`${at}: expected array`);
    value.forEach((v, i) => check(s.items as Schema, v, `${at}[${i}]`, problems));
  } else if (type === 'string') {
    if (typeof value !== 'string') problems.push(`${at}: expected string`);
    else if (s.format === 'date-time' && Number.isNaN(Date.parse(value))) problems.push(`${at}: not a date-time`);
  } else if (type === 'number' || type === 'integer') {
    if (typeof value !== 'number') problems.push(`${at}: expected number`);
    else if ((type === 'integer' || s.format === 'integer') && !Number.isInteger(value)) problems.push(`${at}: expected integer`);
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') problems.push(`${at}: expected boolean`);
  }
}

/** Status codes the spec documents for a path and method. */
export function documentedStatuses(path: string, method: string): string[] {
  return Object.keys(spec.paths[path]?.[method]?.responses ?? {});
}
