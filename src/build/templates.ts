/**
 * Function templates (`templates/<lang>/` at the repository root): what `kss new`
 * writes into a folder and what the dashboard's deploy wizard starts from. A
 * template's README describes it; its template.yml holds extra stack.yml fields
 * (e.g. `fprocess: ./handler.sh`); neither is part of the function.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { runtimeForLang } from '../core/index.js';

/** `templates/` at the repository root, from the compiled `dist/src/build/`. */
export const TEMPLATES_DIR = fileURLToPath(new URL('../../../templates/', import.meta.url));
export const TEMPLATE_FIELDS_FILE = 'template.yml';
const README = 'README.md';

/** A template as the dashboard reads it. */
export interface TemplateView {
  name: string;
  runtime: string;
  description: string;
  /** Contents with `{{name}}` left in: the caller puts the function's name there. */
  files: { path: string; content: string; mode: number }[];
  /** The template's extra fields in spec terms (`fprocess` → `envProcess`). */
  spec: Record<string, unknown>;
  /** The file to open first: the handler. */
  mainFile: string;
}

export function availableTemplates(dir = TEMPLATES_DIR): string[] {
  return existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort() : [];
}

/** The stack.yml fields of template `lang` for function `name` (`handler` excluded: the caller decides it). */
export function templateFields(lang: string, name: string, dir = TEMPLATES_DIR): Record<string, unknown> {
  const file = join(dir, lang, TEMPLATE_FIELDS_FILE);
  if (!existsSync(file)) return {};
  const fields = parseYaml(readFileSync(file, 'utf8').replaceAll('{{name}}', name)) as Record<string, unknown> | null;
  const { handler: _handler, ...rest } = fields ?? {};
  return rest;
}

/** The first prose line of the template's README. */
export function templateDescription(lang: string, dir = TEMPLATES_DIR): string {
  const readme = join(dir, lang, README);
  return existsSync(readme) ? (readFileSync(readme, 'utf8').split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? '').trim() : '';
}

/** The function's own files of template `lang` (not its README or template.yml), with their modes. */
export function templateFiles(lang: string, dir = TEMPLATES_DIR): { path: string; content: string; mode: number }[] {
  const source = join(dir, lang);
  return readdirSync(source)
    .filter((f) => f !== README && f !== TEMPLATE_FIELDS_FILE && statSync(join(source, f)).isFile())
    .sort()
    .map((f) => ({ path: f, content: readFileSync(join(source, f), 'utf8'), mode: statSync(join(source, f)).mode & 0o755 }));
}

/** Every template, for `GET /api/v1/templates`. */
export function listTemplates(dir = TEMPLATES_DIR): TemplateView[] {
  return availableTemplates(dir).map((lang) => {
    const fields = templateFields(lang, '{{name}}', dir);
    const { lang: fieldLang, fprocess, ...rest } = fields;
    const runtime = runtimeForLang(typeof fieldLang === 'string' ? fieldLang : lang) ?? lang;
    const files = templateFiles(lang, dir);
    const spec: Record<string, unknown> = { ...rest, ...(typeof fprocess === 'string' ? { envProcess: fprocess } : {}) };
    const main = files.find((f) => /^handler\./.test(f.path)) ?? files[0];
    return { name: lang, runtime, description: templateDescription(lang, dir), files, spec, mainFile: main?.path ?? '' };
  });
}
