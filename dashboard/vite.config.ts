import { defineConfig } from 'vite';

/**
 * The dashboard builds into dashboard/dist, which the gateway serves at /ui/.
 * No React plugin: Vite's own transformer compiles TSX with the automatic runtime
 * (no fast refresh; `vite dev` is not how the dashboard is used).
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1200 },
  logLevel: 'warn',
});
