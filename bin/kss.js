#!/usr/bin/env node
// The `kss` command. The TypeScript sources compile to dist/ on `npm install` (prepare) or `npm start`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('kss is not built yet: run `npm install` (or `npm start`) in the kube-serverless folder first.\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
