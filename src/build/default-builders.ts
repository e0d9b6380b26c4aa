import type { Runtime } from '../core/index.js';
import type { RuntimeBuilder } from './builder.js';
import { NodeBuilder } from './node-builder.js';
import { PythonBuilder } from './python-builder.js';
import { GoBuilder } from './go-builder.js';
import { ExecBuilder, HttpBuilder } from './exec-builder.js';

/** The builders of the embedded platform, one per runtime it can run. */
export const DEFAULT_BUILDERS: Partial<Record<Runtime, RuntimeBuilder>> = {
  node: new NodeBuilder(),
  python: new PythonBuilder(),
  go: new GoBuilder(),
  exec: new ExecBuilder(),
  http: new HttpBuilder(),
};
