/**
 * The local provider's persistent volumes: one folder per volume name under
 * `<dataDir>/volumes/`, created on first use and never deleted by the platform
 * (removing a function leaves every volume's data in place).
 *
 * With `setGroup` (the gateway runs as root) each folder is `root:<gid>` mode 2770,
 * the fsGroup way: the setgid bit gives every file and folder created inside the
 * volume's group, replicas of the functions naming the volume hold that group, and
 * their runtimes set umask 0002, so each function can read and write what the others
 * wrote and no one else can enter. The folder's group is also kept as the gid's
 * record: a folder already owned by a group in the volume range keeps it.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { volumesOf, type FunctionSpec } from '../../core/index.js';
import type { PreparedVolume, VolumeHost } from './volumes.js';

/** The mode of a volume's folder with `setGroup`: setgid, rwx for root and the group, nothing for others. */
export const VOLUME_FOLDER_MODE = 0o2770;

/** Where gids come from (src/sandbox/volume-gid-allocator.ts). */
export interface VolumeGids {
  /** The volume's gid, allocated on first use; `preferred` (the folder's current group) is taken when free. */
  gidFor(name: string, preferred?: number): number;
}

export interface VolumeFoldersOptions {
  /** The folder holding every volume (`<dataDir>/volumes`). */
  root: string;
  gids: VolumeGids;
  /** Make each folder root:<gid> 2770 (needs root); false: folders are the gateway user's, 0770. */
  setGroup: boolean;
}

/** {@link VolumeHost} over folders of this machine. */
export class VolumeFolders implements VolumeHost {
  readonly #o: VolumeFoldersOptions;

  constructor(options: VolumeFoldersOptions) {
    this.#o = options;
  }

  /** The folder of volume `name` (whether or not it exists yet). */
  pathOf(name: string): string {
    return join(this.#o.root, name);
  }

  prepare(spec: FunctionSpec): PreparedVolume[] {
    const mounts = volumesOf(spec);
    if (!mounts.length) return [];
    mkdirSync(this.#o.root, { recursive: true, mode: 0o700 });
    return mounts.map(({ name, readOnly }) => {
      const hostPath = this.pathOf(name);
      let st = lstatOrUndefined(hostPath);
      if (!st) {
        mkdirSync(hostPath, { mode: 0o700 });
        st = lstatSync(hostPath);
      }
      // A symlink (or a file) put there by hand would bind something else into the sandbox.
      if (!st.isDirectory()) throw new Error(`${hostPath} is not a folder; move it away so the volume "${name}" can be created`);
      const gid = this.#o.gids.gidFor(name, st.gid);
      if (this.#o.setGroup) {
        // Every start: repairs a folder whose owner or mode was changed by hand (two syscalls).
        const chowned = st.uid !== 0 || st.gid !== gid;
        if (chowned) chownSync(hostPath, 0, gid);
        // chown may clear the setgid bit: set the mode after it.
        if (chowned || (st.mode & 0o7777) !== VOLUME_FOLDER_MODE) chmodSync(hostPath, VOLUME_FOLDER_MODE);
      } else if ((st.mode & 0o777) !== 0o770) chmodSync(hostPath, 0o770);
      return { name, hostPath, readOnly, gid };
    });
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
