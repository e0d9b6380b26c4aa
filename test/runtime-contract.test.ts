/** Every runtime passes the same contract (test/runtime-contract.ts). */
import { readFileSync } from 'node:fs';
import { runtimeContract } from './runtime-contract.js';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/contract/${name}`, import.meta.url), 'utf8');

runtimeContract({ runtime: 'node', files: { 'handler.js': fixture('node-handler.js') } });
runtimeContract({ runtime: 'python', files: { 'handler.py': fixture('python-handler.py') } });
runtimeContract({ runtime: 'go', files: { 'handler.go': fixture('go-handler.go') } });
runtimeContract({ runtime: 'exec', files: { 'handler.sh': fixture('exec-handler.sh') }, spec: { envProcess: 'sh handler.sh' }, statusAndHeaders: false });
runtimeContract({ runtime: 'http', files: { 'server.mjs': fixture('http-server.mjs') }, spec: { envProcess: 'node server.mjs' } });
