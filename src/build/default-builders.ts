import type { Runtime } from '../core/index.js';
import type { RuntimeBuilder } from './builder.js';
import { NodeBuilder } from './node-builder.js';

/** The builders of the embedded platform, one per runtime it can run. */
export const DEFAULT_BUILDERS: Partial<Record<Runtime, RuntimeBuilder>> = {
  node: new NodeBuilder(),
};
