import { readFileSync } from 'node:fs';

/** This build's version, from package.json (compiled file lives in dist/src/). */
export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
