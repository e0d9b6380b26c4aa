/**
 * The dashboard: the static files of `dashboard/dist` (built by `npm start` /
 * `npm test` with Vite) at `/ui/`, and `/` redirecting there. The files hold no
 * data and no credentials, so they are public; everything they show comes from the
 * API behind the session cookie. Read once at start: a dashboard rebuild is picked
 * up by the next gateway start.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { KssError } from '../../core/index.js';
import { errorHeaders } from '../errors.js';

/** `dashboard/dist` at the repository root, from the compiled `dist/src/gateway/routes/`. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../../../dashboard/dist/', import.meta.url));

/**
 * The dashboard's own policy: its scripts and styles only (CodeMirror and uPlot
 * inject style elements, hence 'unsafe-inline' for styles, never for scripts), and
 * requests only to this gateway.
 */
export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

const UI_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
});

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

interface UiFile {
  body: Buffer;
  type: string;
  /** Vite's hashed assets never change under the same name. */
  immutable: boolean;
}

/** Every file under `dir`, keyed by its URL path below /ui/ (e.g. `assets/index-1a2b.js`). */
export function loadUiFiles(dir: string): Map<string, UiFile> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map<string, UiFile>();
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && statSync(path).size < 16 * 1024 * 1024) {
        const key = relative(dir, path).split(sep).join('/');
        files.set(key, { body: readFileSync(path), type: TYPES[extname(path)] ?? 'application/octet-stream', immutable: key.startsWith('assets/') });
      }
    }
  };
  walk(dir);
  return files;
}

export function uiRoutes(app: FastifyInstance, options: { uiDir?: string }): void {
  const files = loadUiFiles(options.uiDir ?? DEFAULT_UI_DIR);

  app.get('/', { config: { auth: 'public' } }, async (_req, reply) => reply.redirect('/ui/', 302));
  // The router ignores trailing slashes: this route answers both `/ui` and `/ui/`.
  app.get('/ui', { config: { auth: 'public' } }, async (req, reply) => {
    if (!req.url.startsWith('/ui/')) return reply.redirect('/ui/', 301);
    return send(reply, indexOf(files));
  });
  app.get<{ Params: { '*': string } }>('/ui/*', { config: { auth: 'public' } }, async (req, reply) => {
    const path = req.params['*'] ?? '';
    const file = files?.get(path === '' ? 'index.html' : path);
    if (file) return send(reply, file);
    // Paths without an extension are the app's own (a reload on a deep link): the app answers them.
    if (!extname(path)) return send(reply, indexOf(files));
    const error = new KssError('KSS_ROUTE_NOT_FOUND', `no dashboard file ${path.slice(0, 200)}`);
    return reply.code(404).headers(errorHeaders(error)).send(error.toJSON());
  });
}

function indexOf(files: Map<string, UiFile> | undefined): UiFile {
  const index = files?.get('index.html');
  if (!index) throw new KssError('KSS_DASHBOARD_NOT_BUILT', 'the dashboard is not built on this gateway; `npm start` builds it (or run `npm run build`), then restart the gateway');
  return index;
}

function send(reply: FastifyReply, file: UiFile) {
  return reply
    .headers(UI_HEADERS)
    .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .type(file.type)
    .send(file.body);
}
