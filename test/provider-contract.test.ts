/** The provider contract suite against the local provider (supervised processes, no sandbox). */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { BuildService, DEFAULT_BUILDERS } from '../src/build/index.js';
import { LocalProvider } from '../src/providers/local/index.js';
import { createCodeStore } from '../src/store/index.js';
import { tempDir } from './helpers.js';
import { builtNodeFunction, providerContract } from './provider-contract.js';

providerContract('local', async () => {
  const dir = tempDir('kss-contract-');
  const logger = pino({ level: 'silent' });
  const code = createCodeStore({ dir: join(dir, 'code') });
  const builds = new BuildService({ dir: join(dir, 'builds'), code, builders: DEFAULT_BUILDERS, logger });
  const provider = new LocalProvider({ artifacts: builds, logger });
  return {
    provider,
    nodeFunction: builtNodeFunction(code, builds),
    async close() {
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
