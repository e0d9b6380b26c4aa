/** The revisions contract (test/revisions-contract.ts) on the local provider. */
import { revisionsContract } from './revisions-contract.js';
import { startTestPlatform } from './helpers.js';

revisionsContract({ label: 'the local provider', start: (options) => startTestPlatform(options) });
