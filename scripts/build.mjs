// `npm run build` (forced) and npm's `prepare` hook (only when stale).
import { ensureBuild, ensureDashboard } from './setup.mjs';

ensureBuild({ force: process.argv.includes('--force') });
ensureDashboard({ force: process.argv.includes('--force') });
