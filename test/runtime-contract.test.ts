/** Every runtime passes the same contract (test/runtime-contract.ts). */
import { readFileSync } from 'node:fs';
import { runtimeContract } from './runtime-contract.js';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/contract/${name}`, import.meta.url), 'utf8');

runtimeContract({ runtime: 'node', files: { 'handler.js': fixture('node-handler.js') } });
