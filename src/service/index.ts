/** The service layer both API surfaces call. */
export { FunctionService, type FunctionServiceOptions, type SystemInfo, type DeployedFunction } from './function-service.js';
export { KeyedMutex } from './keyed-mutex.js';
