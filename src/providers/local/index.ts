/** The local provider: functions as supervised processes on this machine. */
export { LocalProvider, type LocalProviderOptions, type ArtifactLocator } from './local-provider.js';
export { DEFAULT_LAUNCHERS, NODE_COMMAND, NODE_RUNTIME_ENTRY, type Launcher, type LaunchCommand, type Artifact } from './runtime-launchers.js';
export { DEFAULT_REPLICA_OPTIONS, type ReplicaOptions } from './replica.js';
export { WarmPool, type WarmPoolOptions, type PoolCommand } from './warm-pool.js';
export { volumeEnv, type PreparedVolume, type VolumeHost } from './volumes.js';
export { VolumeFolders, VOLUME_FOLDER_MODE, type VolumeFoldersOptions, type VolumeGids } from './volume-folders.js';
