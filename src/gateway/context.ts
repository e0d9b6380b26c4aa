import type { Logger } from 'pino';
import type { Invoker } from '../invoke/index.js';
import type { FunctionService } from '../service/index.js';

/** What routes are given: the service layer and the data path. */
export interface GatewayContext {
  service: FunctionService;
  invoker: Invoker;
  logger: Logger;
  /** Largest code archive accepted by the upload route, in bytes. */
  maxCodeBytes: number;
}
