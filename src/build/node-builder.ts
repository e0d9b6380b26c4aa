/**
 * Node functions: dependencies from the function's package.json installed with
 * `npm install --omit=dev`, a TypeScript entry compiled with esbuild, and the
 * handler loaded once in a child process to check it has an entry point.
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KssError } from '../core/index.js';
import type { BuildRequest, BuildResult, RuntimeBuilder } from './builder.js';
import { runCommand } from './run-command.js';

/** `dist/runtimes/node/check.js`, relative to this compiled file (`dist/src/build/`). */
const CHECK_ENTRY = fileURLToPath(new URL('../../runtimes/node/check.js', import.meta.url));
const TS_ENTRIES = ['handler.ts', 'handler.mts', 'index.ts'];

export class NodeBuilder implements RuntimeBuilder {
  readonly runtime = 'node' as const;
  readonly version = '1';

  async build(req: BuildRequest): Promise<BuildResult> {
    const { sourceDir, outDir, spec } = req;
    const deps = hasDependencies(join(sourceDir, 'package.json'));
    const tsEntry = spec.handler ? (['.ts', '.mts'].includes(extname(spec.handler)) ? spec.handler : undefined) : TS_ENTRIES.find((f) => existsSync(join(sourceDir, f)));
    let dir = sourceDir;
    let handler = spec.handler;
    if (deps || tsEntry) {
      cpSync(sourceDir, outDir, { recursive: true });
      dir = outDir;
    }
    if (deps) {
      req.log('installing dependencies (npm install --omit=dev)');
      const r = await runCommand('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--no-update-notifier'], { cwd: outDir, log: req.log, signal: req.signal, timeoutMs: 300_000 });
      if (r.code !== 0) {
        throw new KssError('KSS_BUILD_FAILED', `npm install failed for "${spec.service}" (exit ${r.code}):\n${r.tail.slice(-15).join('\n')}`);
      }
    }
    if (tsEntry) {
      req.log(`compiling ${tsEntry} with esbuild`);
      const esbuild = await import('esbuild');
      const out = join(outDir, '.kss-handler.mjs');
      try {
        await esbuild.build({ entryPoints: [join(outDir, tsEntry)], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'silent', sourcemap: 'inline' });
      } catch (err) {
        const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } }> }).errors ?? [];
        const lines = errors.map((e) => (e.location ? `${e.location.file.replace(`${outDir}/`, '')}:${e.location.line}:${e.location.column}: ${e.text}` : e.text));
        for (const l of lines) req.log(l);
        throw new KssError('KSS_BUILD_FAILED', `TypeScript compile failed for "${spec.service}":\n${lines.join('\n') || (err as Error).message}`);
      }
      handler = '.kss-handler.mjs';
    }
    // Load the handler once, as a replica would, so a missing entry point fails the deploy, not the replica.
    const check = await runCommand(process.execPath, ['--experimental-detect-module', '--disable-warning=ExperimentalWarning', '--disable-warning=MODULE_TYPELESS_PACKAGE_JSON', CHECK_ENTRY, dir, handler ?? ''], {
      cwd: dir,
      log: req.log,
      signal: req.signal,
      timeoutMs: 30_000,
      env: { PATH: process.env.PATH, NODE_ENV: 'production' },
    });
    if (check.code !== 0) {
      // Paths are shown relative to the function's folder: internal paths never reach the client.
      const message = check.tail.filter((l) => !l.startsWith('{') && !l.startsWith('$ ')).join('\n').replaceAll(`${dir}/`, '').replaceAll(dir, '.').trim();
      throw new KssError('KSS_INVALID_HANDLER', message || `the handler of "${spec.service}" could not be loaded`);
    }
    return { use: dir === sourceDir ? 'source' : 'out', ...(handler !== spec.handler ? { handler } : {}) };
  }
}

function hasDependencies(packageJson: string): boolean {
  if (!existsSync(packageJson)) return false;
  try {
    const pkg = JSON.parse(readFileSync(packageJson, 'utf8')) as { dependencies?: Record<string, string> };
    return Object.keys(pkg.dependencies ?? {}).length > 0;
  } catch {
    throw new KssError('KSS_BUILD_FAILED', 'package.json is not valid JSON');
  }
}
