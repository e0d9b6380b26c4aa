/**
 * A renderer for the small Go-template subset the Helm chart in deploy/helm/kube-serverless/
 * is written in. There is no `helm` binary here, so the tests render the chart with this
 * and validate every document; anything outside the subset throws a TemplateError naming
 * the file and line, so the chart cannot silently grow beyond what is verified.
 *
 * The subset (also listed in deploy/helm/kube-serverless/README.md):
 * - values: `.Values.a.b`, `.Release.Name`, `.Release.Namespace`, `.Chart.Name`,
 *   `.Chart.Version`, `.Chart.AppVersion`, `.` (the current value), `$` (the root),
 *   `$var` and `$var.a.b`; string ("…"), number, `true`/`false` literals; `( … )`
 *   sub-pipelines. A field missing from a map is an error (stricter than Helm, which
 *   prints nothing: here a typo fails).
 * - `{{- … -}}` whitespace trimming; comments `{{/* … *\/}}` (also `{{- /* … *\/ -}}`).
 * - `{{ if X }}…{{ else if Y }}…{{ else }}…{{ end }}`, with `not`, `and`, `or`, `eq`, `ne`.
 * - `{{ range $k, $v := X }}` (maps iterate sorted by key, as Helm does; lists give
 *   index, element) and `{{ range X }}`, with `.` rebound to the element.
 * - `{{ with X }}…{{ else }}…{{ end }}` with `.` rebound.
 * - pipelines `X | f a`, the value passed as the last argument, with `quote`,
 *   `default "x"`, `toYaml`, `nindent N`, `indent N`, `b64enc`, `trunc N`,
 *   `trimSuffix "-"`, `required "msg" X`, `fail "msg"`, `randAlphaNum N`.
 * - `{{ define "name" }}…{{ end }}` (in any template, usually _helpers.tpl) and
 *   `include "name" X`.
 * Not supported (throws): variable assignment (`$x := …` outside range), `template`,
 * `block`, `break`, `continue`, `range … else`, raw strings, `.Capabilities`,
 * `.Files`, `lookup`, and every other function.
 */
import { randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export class TemplateError extends Error {}

type Tok = { k: 'str' | 'num' | 'ref' | 'ident' | '|' | '(' | ')' | ':=' | ','; v: string };
type Operand = { k: 'lit'; v: unknown } | { k: 'ref'; v: string } | { k: 'ident'; v: string } | { k: 'pipe'; v: Pipe };
type Pipe = Operand[][];
type Node =
  | { t: 'text'; text: string }
  | { t: 'out'; pipe: Pipe; at: string }
  | { t: 'if'; branches: Array<{ cond: Pipe; body: Node[] }>; otherwise: Node[]; at: string }
  | { t: 'range'; vars: string[]; pipe: Pipe; body: Node[]; at: string }
  | { t: 'with'; pipe: Pipe; body: Node[]; otherwise: Node[]; at: string };
type Piece = { text: string } | { action: Tok[]; at: string };
interface Scope { dot: unknown; root: unknown; vars: Map<string, unknown> }
export type Defines = Map<string, Node[]>;

/** Splits a template into text and actions, applying trim markers and dropping comments. */
function lex(src: string, file: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let trimNext = false;
  while (i <= src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? undefined : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    const at = `${file}:${src.slice(0, open < 0 ? src.length : open).split('\n').length}`;
    let j = open + 2;
    if (open >= 0 && src[j] === '-' && /\s/.test(src[j + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      j += 2;
    }
    if (text) out.push({ text });
    if (open < 0) break;
    let close: number;
    let body: string;
    const lead = src.slice(j).match(/^\s*/)![0].length;
    if (src.startsWith('/*', j + lead)) {
      const end = src.indexOf('*/', j + lead + 2);
      const m = end < 0 ? null : src.slice(end + 2).match(/^(\s-)?\}\}/);
      if (!m) throw new TemplateError(`${at}: unterminated comment (write {{/* … */}})`);
      trimNext = Boolean(m[1]);
      i = end + 2 + m[0].length;
      continue;
    }
    for (close = j; close < src.length && !src.startsWith('}}', close); close++) {
      if (src[close] === '"') for (close++; close < src.length && src[close] !== '"'; close++) if (src[close] === '\\') close++;
    }
    if (close >= src.length) throw new TemplateError(`${at}: unclosed action {{`);
    body = src.slice(j, close);
    trimNext = /\s-$/.test(body);
    if (trimNext) body = body.slice(0, -2);
    out.push({ action: tokenize(body, at), at });
    i = close + 2;
  }
  return out;
}

const TOKEN = /\s*(?:("(?:[^"\\\n]|\\.)*")|(-?\d+(?:\.\d+)?)(?![\w.])|((?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.|\$[A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*)|(\||\(|\)|:=|,))/y;

function tokenize(body: string, at: string): Tok[] {
  const toks: Tok[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < body.length && body.slice(TOKEN.lastIndex).trim()) {
    const from = TOKEN.lastIndex;
    const m = TOKEN.exec(body);
    if (!m) throw new TemplateError(`${at}: unsupported syntax "${body.slice(from).trim()}" (outside the subset in test/helm-render.ts)`);
    if (m[1]) {
      try {
        toks.push({ k: 'str', v: JSON.parse(m[1]) as string });
      } catch {
        throw new TemplateError(`${at}: unsupported escape in ${m[1]}`);
      }
    }
    else if (m[2]) toks.push({ k: 'num', v: m[2] });
    else if (m[3]) toks.push({ k: 'ref', v: m[3] });
    else if (m[4]) toks.push({ k: 'ident', v: m[4] });
    else toks.push({ k: m[5] as Tok['k'], v: m[5]! });
  }
  return toks;
}

function parsePipe(toks: Tok[], at: string): Pipe {
  let pos = 0;
  const pipe = (): Pipe => {
    const cmds: Pipe = [[]];
    while (pos < toks.length && toks[pos]!.k !== ')') {
      const t = toks[pos++]!;
      if (t.k === '|') {
        if (!cmds.at(-1)!.length) throw new TemplateError(`${at}: empty command before |`);
        cmds.push([]);
      } else if (t.k === '(') {
        cmds.at(-1)!.push({ k: 'pipe', v: pipe() });
        if (toks[pos++]?.k !== ')') throw new TemplateError(`${at}: unclosed (`);
      } else if (t.k === 'str') cmds.at(-1)!.push({ k: 'lit', v: t.v });
      else if (t.k === 'num') cmds.at(-1)!.push({ k: 'lit', v: Number(t.v) });
      else if (t.k === 'ident' && (t.v === 'true' || t.v === 'false')) cmds.at(-1)!.push({ k: 'lit', v: t.v === 'true' });
      else if (t.k === 'ident') {
        if (!(t.v in FUNCS) && t.v !== 'include') throw new TemplateError(`${at}: unsupported function or keyword "${t.v}" (outside the subset in test/helm-render.ts)`);
        cmds.at(-1)!.push({ k: 'ident', v: t.v });
      } else if (t.k === 'ref') cmds.at(-1)!.push({ k: 'ref', v: t.v });
      else throw new TemplateError(`${at}: unsupported "${t.v}" here${t.k === ':=' ? ' (variable assignment is outside the subset)' : ''}`);
    }
    if (!cmds.at(-1)!.length) throw new TemplateError(`${at}: empty pipeline`);
    for (const c of cmds) if (c[0]!.k !== 'ident' && c.length > 1) throw new TemplateError(`${at}: ${c.length} operands without a function`);
    return cmds;
  };
  const p = pipe();
  if (pos < toks.length) throw new TemplateError(`${at}: unexpected )`);
  return p;
}

/** Parses pieces into nodes until one of `stops` (returned with its tokens); `define`s go to `defines`. */
function parseNodes(pieces: Piece[], state: { i: number }, defines: Defines, stops: string[]): { nodes: Node[]; stop?: { word: string; rest: Tok[]; at: string } } {
  const nodes: Node[] = [];
  while (state.i < pieces.length) {
    const p = pieces[state.i++]!;
    if ('text' in p) {
      nodes.push({ t: 'text', text: p.text });
      continue;
    }
    const [first, ...rest] = p.action;
    const word = first?.k === 'ident' ? first.v : '';
    const at = p.at;
    if (!first) throw new TemplateError(`${at}: empty action {{ }}`);
    if (stops.includes(word)) return { nodes, stop: { word, rest, at } };
    if (word === 'end' || word === 'else') throw new TemplateError(`${at}: {{ ${word} }} without an open if/range/with/define`);
    if (word === 'if') {
      const node: Node = { t: 'if', branches: [], otherwise: [], at };
      let cond = parsePipe(rest, at);
      for (;;) {
        const r = parseNodes(pieces, state, defines, ['else', 'end']);
        if (!r.stop) throw new TemplateError(`${at}: {{ if }} without {{ end }}`);
        node.branches.push({ cond, body: r.nodes });
        if (r.stop.word === 'end') break;
        if (r.stop.rest[0]?.v === 'if') {
          cond = parsePipe(r.stop.rest.slice(1), r.stop.at);
          continue;
        }
        if (r.stop.rest.length) throw new TemplateError(`${r.stop.at}: unsupported {{ else ${r.stop.rest[0]!.v} }}`);
        node.otherwise = block(pieces, state, defines, at, 'if');
        break;
      }
      nodes.push(node);
    } else if (word === 'range') {
      const decl = rest.findIndex((t) => t.k === ':=');
      const declared = decl < 0 ? [] : rest.slice(0, decl);
      const vars = declared.filter((t) => t.k !== ',');
      const shape = declared.map((t) => (t.k === ',' ? ',' : t.k === 'ref' && /^\$\w+$/.test(t.v) ? 'v' : '?')).join('');
      if (decl >= 0 && shape !== 'v' && shape !== 'v,v') throw new TemplateError(`${at}: range declares $v or $k, $v`);
      nodes.push({ t: 'range', vars: vars.map((t) => t.v), pipe: parsePipe(rest.slice(decl + 1), at), body: block(pieces, state, defines, at, 'range'), at });
    } else if (word === 'with') {
      const pipe = parsePipe(rest, at);
      const r = parseNodes(pieces, state, defines, ['else', 'end']);
      if (!r.stop) throw new TemplateError(`${at}: {{ with }} without {{ end }}`);
      nodes.push({ t: 'with', pipe, body: r.nodes, otherwise: r.stop.word === 'else' ? block(pieces, state, defines, at, 'with') : [], at });
    } else if (word === 'define') {
      if (rest.length !== 1 || rest[0]!.k !== 'str') throw new TemplateError(`${at}: define takes one quoted name`);
      defines.set(rest[0]!.v, block(pieces, state, defines, at, 'define'));
    } else if (['template', 'block', 'break', 'continue', 'else'].includes(word)) {
      throw new TemplateError(`${at}: {{ ${word} }} is outside the subset in test/helm-render.ts`);
    } else {
      nodes.push({ t: 'out', pipe: parsePipe(p.action, at), at });
    }
  }
  return { nodes };
}

/** The body of a block up to its {{ end }} (`else` is refused, e.g. in range). */
function block(pieces: Piece[], state: { i: number }, defines: Defines, at: string, what: string): Node[] {
  const r = parseNodes(pieces, state, defines, ['end', 'else']);
  if (!r.stop) throw new TemplateError(`${at}: {{ ${what} }} without {{ end }}`);
  if (r.stop.word === 'else') throw new TemplateError(`${r.stop.at}: {{ else }} in ${what} is outside the subset`);
  if (r.stop.rest.length) throw new TemplateError(`${r.stop.at}: {{ end }} takes nothing`);
  return r.nodes;
}

/** Parses one template file; its `define`s are added to `defines`. */
export function parseTemplate(src: string, file: string, defines: Defines): Node[] {
  return parseNodes(lex(src, file), { i: 0 }, defines, []).nodes;
}

const truthy = (v: unknown): boolean =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0));
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(v: unknown, at: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TemplateError(`${at}: cannot print a ${Array.isArray(v) ? 'list' : 'map'} as text (pipe it to toYaml)`);
}

function num(v: unknown, at: string, fn: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TemplateError(`${at}: ${fn} wants a whole number, got ${JSON.stringify(v)}`);
  return v;
}

const indent = (n: number, s: string): string => ' '.repeat(n) + s.replace(/\n/g, `\n${' '.repeat(n)}`);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The functions of the subset: name → [arity, implementation]. */
const FUNCS: Record<string, [number, (a: unknown[], at: string) => unknown]> = {
  quote: [1, ([v], at) => (v === undefined || v === null ? '' : JSON.stringify(str(v, at)))],
  default: [2, ([d, v]) => (truthy(v) ? v : d)],
  toYaml: [1, ([v]) => stringifyYaml(v ?? null, { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, '')],
  nindent: [2, ([n, s], at) => `\n${indent(num(n, at, 'nindent'), str(s, at))}`],
  indent: [2, ([n, s], at) => indent(num(n, at, 'indent'), str(s, at))],
  b64enc: [1, ([s], at) => Buffer.from(str(s, at)).toString('base64')],
  trunc: [2, ([n, s], at) => (num(n, at, 'trunc') >= 0 ? str(s, at).slice(0, n as number) : str(s, at).slice(n as number))],
  trimSuffix: [2, ([suffix, s], at) => (str(s, at).endsWith(str(suffix, at)) && str(suffix, at) ? str(s, at).slice(0, -str(suffix, at).length) : str(s, at))],
  required: [2, ([msg, v], at) => {
    if (v === undefined || v === null || v === '') throw new TemplateError(`${at}: ${str(msg, at)}`);
    return v;
  }],
  fail: [1, ([msg], at) => {
    throw new TemplateError(`${at}: ${str(msg, at)}`);
  }],
  randAlphaNum: [1, ([n], at) => Array.from({ length: num(n, at, 'randAlphaNum') }, () => ALNUM[randomInt(ALNUM.length)]).join('')],
  not: [1, ([v]) => !truthy(v)],
  eq: [2, ([a, b]) => a === b],
  ne: [2, ([a, b]) => a !== b],
  and: [-1, () => undefined], // short-circuit: evaluated in runCmd
  or: [-1, () => undefined],
};

class Renderer {
  constructor(readonly defines: Defines, private depth = 0) {}

  resolve(ref: string, s: Scope, at: string): unknown {
    const m = ref.match(/^(\$\w*)?(.*)$/)!;
    let cur: unknown;
    if (m[1] === undefined) cur = s.dot;
    else if (m[1] === '$') cur = s.root;
    else if (s.vars.has(m[1])) cur = s.vars.get(m[1]);
    else throw new TemplateError(`${at}: undefined variable ${m[1]}`);
    const path = m[2] === '.' ? [] : m[2]!.split('.').slice(1);
    for (const [n, key] of path.entries()) {
      const seen = (m[1] ?? '') + '.' + path.slice(0, n).join('.');
      if (!isMap(cur)) throw new TemplateError(`${at}: ${ref}: ${seen} is ${cur === null || cur === undefined ? 'nil' : `not a map`}`);
      if (!(key in cur)) throw new TemplateError(`${at}: ${ref}: no "${key}" in ${seen} (a typo, or missing from values.yaml?)`);
      cur = cur[key];
    }
    return cur;
  }

  operand(o: Operand, s: Scope, at: string): unknown {
    if (o.k === 'lit') return o.v;
    if (o.k === 'ref') return this.resolve(o.v, s, at);
    if (o.k === 'pipe') return this.pipe(o.v, s, at);
    return this.call(o.v, [], [], s, at);
  }

  call(name: string, args: Operand[], extra: unknown[], s: Scope, at: string): unknown {
    if (name === 'and' || name === 'or') {
      const vals = [...args.map((a) => () => this.operand(a, s, at)), ...extra.map((v) => () => v)];
      if (vals.length < 2) throw new TemplateError(`${at}: ${name} wants at least 2 arguments`);
      let v: unknown;
      for (const get of vals) if (truthy((v = get())) === (name === 'or')) return v;
      return v;
    }
    const vals = [...args.map((a) => this.operand(a, s, at)), ...extra];
    if (name === 'include') {
      if (vals.length !== 2 || typeof vals[0] !== 'string') throw new TemplateError(`${at}: include wants a name and a value`);
      const body = this.defines.get(vals[0]);
      if (!body) throw new TemplateError(`${at}: include "${vals[0]}": no such define`);
      if (this.depth > 50) throw new TemplateError(`${at}: include nested too deep`);
      return new Renderer(this.defines, this.depth + 1).nodes(body, { dot: vals[1], root: vals[1], vars: new Map() });
    }
    const [arity, fn] = FUNCS[name]!;
    if (vals.length !== arity) throw new TemplateError(`${at}: ${name} wants ${arity} argument(s), got ${vals.length}`);
    return fn(vals, at);
  }

  pipe(p: Pipe, s: Scope, at: string): unknown {
    let prev: unknown[] = [];
    for (const [i, cmd] of p.entries()) {
      const [head, ...args] = cmd;
      if (head!.k === 'ident') prev = [this.call(head!.v as string, args, prev, s, at)];
      else if (i > 0) throw new TemplateError(`${at}: only a function can follow |`);
      else prev = [this.operand(head!, s, at)];
    }
    return prev[0];
  }

  nodes(nodes: Node[], s: Scope): string {
    let out = '';
    for (const n of nodes) {
      if (n.t === 'text') out += n.text;
      else if (n.t === 'out') out += str(this.pipe(n.pipe, s, n.at), n.at);
      else if (n.t === 'if') {
        const hit = n.branches.find((b) => truthy(this.pipe(b.cond, s, n.at)));
        out += this.nodes(hit ? hit.body : n.otherwise, s);
      } else if (n.t === 'with') {
        const v = this.pipe(n.pipe, s, n.at);
        out += truthy(v) ? this.nodes(n.body, { ...s, dot: v }) : this.nodes(n.otherwise, s);
      } else {
        const v = this.pipe(n.pipe, s, n.at);
        if (v !== undefined && v !== null && typeof v !== 'object') throw new TemplateError(`${n.at}: range over a ${typeof v}`);
        const entries: Array<[unknown, unknown]> = Array.isArray(v) ? v.map((e, i) => [i, e]) : isMap(v) ? Object.keys(v).sort().map((k) => [k, v[k]]) : [];
        for (const [k, e] of entries) {
          const vars = new Map(s.vars);
          if (n.vars.length === 1) vars.set(n.vars[0]!, e);
          if (n.vars.length === 2) vars.set(n.vars[0]!, k).set(n.vars[1]!, e);
          out += this.nodes(n.body, { dot: e, root: s.root, vars });
        }
      }
    }
    return out;
  }
}

/** Renders one template source with `data` as `.` and `$` (unit tests; `defines` from other files may be given). */
export function renderString(src: string, data: unknown, defines: Defines = new Map(), file = 'inline'): string {
  const nodes = parseTemplate(src, file, defines);
  return new Renderer(defines).nodes(nodes, { dot: data, root: data, vars: new Map() });
}

/**
 * Deep merge as Helm merges -f/--set values onto values.yaml: maps merge (so `{}` keeps
 * the defaults), anything else replaces. `null` clears a value: Helm deletes the key, we
 * keep it as nil, which renders the same and keeps the missing-key check for typos.
 */
export function mergeValues(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = v === null ? null : mergeValues(base[k], v);
  return out;
}

export interface RenderOptions {
  values?: Record<string, unknown>;
  release?: { name?: string; namespace?: string };
}

export interface RenderedChart {
  /** Rendered manifests by template path (relative to the chart), partials and NOTES.txt excluded. */
  manifests: Map<string, string>;
  notes: string;
  values: Record<string, unknown>;
  chart: Record<string, unknown>;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** Renders the chart at `dir` like `helm template <release> <dir> -n <namespace>` would (within the subset). */
export function renderChart(dir: string, options: RenderOptions = {}): RenderedChart {
  const chart = parseYaml(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const values = mergeValues(parseYaml(readFileSync(join(dir, 'values.yaml'), 'utf8')) ?? {}, options.values ?? {}) as Record<string, unknown>;
  const root = {
    Values: values,
    Release: { Name: options.release?.name ?? 'kss', Namespace: options.release?.namespace ?? 'kube-serverless' },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  const defines: Defines = new Map();
  const parsed = files(join(dir, 'templates')).map((f) => {
    const name = relative(dir, f);
    return { name, nodes: parseTemplate(readFileSync(f, 'utf8'), name, defines) };
  });
  const manifests = new Map<string, string>();
  let notes = '';
  for (const { name, nodes } of parsed) {
    const base = name.split('/').at(-1)!;
    if (base.startsWith('_')) continue;
    const text = new Renderer(defines).nodes(nodes, { dot: root, root, vars: new Map() });
    if (base === 'NOTES.txt') notes = text;
    else manifests.set(name, text);
  }
  return { manifests, notes, values, chart };
}
