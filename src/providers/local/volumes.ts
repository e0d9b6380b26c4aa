/**
 * What the local provider needs to give replicas their persistent volumes
 * (`kss.volume`, see core/volume-spec.ts), owned here (the caller) like the
 * isolation contract: a {@link VolumeHost} turns the names a spec lists into host
 * folders and gids; the sandbox binds them in; without a sandbox a replica is told the
 * host folders themselves.
 */
import { volumeEnvName, type FunctionSpec } from '../../core/index.js';

/** A volume ready for one replica start. */
export interface PreparedVolume {
  name: string;
  /** Its folder on this machine (`<dataDir>/volumes/<name>`), created on first use. */
  hostPath: string;
  /** Mounted read-only (`name:ro`). */
  readOnly: boolean;
  /** The volume's group: every replica of a function naming it gets it as a supplementary group. */
  gid: number;
}

/** Provides the volumes a spec names. */
export interface VolumeHost {
  /** Creates what is missing (folder, gid) and returns the volumes `spec` names, in its order. Throws when the host cannot. */
  prepare(spec: FunctionSpec): PreparedVolume[];
}

/** `KSS_VOLUME_<NAME>` for each volume, holding the path the replica sees (`pathOf`; default the host folder). */
export function volumeEnv(volumes: readonly PreparedVolume[], pathOf: (v: PreparedVolume) => string = (v) => v.hostPath): Record<string, string> {
  return Object.fromEntries(volumes.map((v) => [volumeEnvName(v.name), pathOf(v)]));
}
