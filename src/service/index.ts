/** The service layer both API surfaces call. */
export { FunctionService, type FunctionServiceOptions, type SystemInfo, type DeployedFunction, type RevisionInfo, type RevisionsView, type FunctionChange } from './function-service.js';
export { KeyedMutex } from './keyed-mutex.js';
export * from './canary-controller.js';
