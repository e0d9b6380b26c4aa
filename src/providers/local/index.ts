/** The local provider: functions as supervised processes on this machine. */
export { LocalProvider, type LocalProviderOptions, type CodeLocator } from './local-provider.js';
export { DEFAULT_LAUNCHERS, NODE_RUNTIME_ENTRY, type Launcher, type LaunchCommand } from './runtime-launchers.js';
export { DEFAULT_REPLICA_OPTIONS, type ReplicaOptions } from './replica.js';
