/**
 * Label and field selectors as the API server parses them from `?labelSelector=`
 * and `?fieldSelector=`. Labels: `a=b`, `a==b`, `a!=b`, `a` (exists), `!a`,
 * `a in (x,y)`, `a notin (x,y)`. Fields: `path=value`, `path==value`,
 * `path!=value` over any dotted path (`metadata.name`, `metadata.namespace`,
 * `status.phase`, ...); the real server only allows a few paths per kind.
 */
import { isObject, type JsonObject } from './apply.js';

/** Thrown for a selector that does not parse (the server answers 400). */
export class SelectorError extends Error {}

type Predicate = (value: string | undefined) => boolean;

/** Split on commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

function parseTerm(term: string, allowSets: boolean): { key: string; test: Predicate } {
  const set = allowSets ? /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term) : null;
  if (set) {
    const values = new Set(set[3].split(',').map((v) => v.trim()).filter((v) => v !== ''));
    return set[2] === 'in'
      ? { key: set[1], test: (v) => v !== undefined && values.has(v) }
      : { key: set[1], test: (v) => v === undefined || !values.has(v) };
  }
  const comparison = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$/.exec(term);
  if (comparison) {
    const [, key, op, value] = comparison;
    return op === '!=' ? { key, test: (v) => v !== value } : { key, test: (v) => v === value };
  }
  if (allowSets && /^![^\s!=]+$/.test(term)) return { key: term.slice(1), test: (v) => v === undefined };
  if (allowSets && /^[^\s!=()]+$/.test(term)) return { key: term, test: (v) => v !== undefined };
  throw new SelectorError(`unable to parse requirement: "${term}"`);
}

/** Compile a label selector string into a predicate over a labels map. */
export function parseLabelSelector(selector: string | undefined | null): (labels: Record<string, string> | undefined) => boolean {
  if (!selector) return () => true;
  const terms = splitTerms(selector).map((t) => parseTerm(t, true));
  return (labels) => terms.every(({ key, test }) => test(labels?.[key]));
}

function readPath(object: JsonObject, path: string): string | undefined {
  let value: unknown = object;
  for (const part of path.split('.')) {
    if (!isObject(value)) return undefined;
    value = value[part];
  }
  if (value === undefined || value === null) return undefined;
  return String(value);
}

/** Compile a field selector string into a predicate over an object. */
export function parseFieldSelector(selector: string | undefined | null): (object: JsonObject) => boolean {
  if (!selector) return () => true;
  const terms = splitTerms(selector).map((t) => parseTerm(t, false));
  // Absent fields compare as "" (e.g. `spec.nodeName=` matches unscheduled pods).
  return (object) => terms.every(({ key, test }) => test(readPath(object, key) ?? ''));
}

/** Does a `matchLabels`-style map (e.g. a Service selector) select these labels? */
export function matchesLabels(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
