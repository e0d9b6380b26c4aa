// `npm run build` (forced) and npm's `prepare` hook (only when stale).
import { ensureBuild } from './setup.mjs';

ensureBuild({ force: process.argv.includes('--force') });
