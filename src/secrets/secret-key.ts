/**
 * The key that encrypts secrets at rest: 32 random bytes in `<dataDir>/secrets.key`,
 * created with mode 0600 on first use. Policy (also in the README):
 *
 * - a key file that is not a regular file, or does not hold exactly 32 bytes, stops
 *   the gateway with an error saying what to do; it is never overwritten, since a new
 *   key would make every stored secret unreadable;
 * - a key file readable by group or others is tightened to 0600 and a warning is
 *   returned for the log (as the admin password file is tightened): refusing would stop a
 *   gateway over a restore that lost file modes, while the warning says to rotate;
 * - a missing key while the database holds secrets stops the gateway: the key was
 *   lost or the data dir was copied without it, and generating a fresh one would hide that.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { SECRET_KEY_BYTES } from './secret-crypto.js';

/** The key file's name inside the data dir. */
export const SECRET_KEY_FILE = 'secrets.key';

/** A loaded (or new) key. */
export interface SecretKey {
  key: Buffer;
  file: string;
  /** True when this call generated the key. */
  created: boolean;
  /** Something the operator should know (the file's mode was tightened); never the key. */
  warning?: string;
}

/**
 * Reads the key at `file`, or creates it (mode 0600) when it does not exist and
 * `storedSecrets` is 0.
 *
 * @param storedSecrets how many secrets the database already holds (encrypted with some key).
 * @throws Error with a message saying what to do when the file is unusable or missing while secrets exist.
 */
export function loadSecretKey(file: string, storedSecrets: number): SecretKey {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) {
    if (storedSecrets > 0) {
      throw new Error(
        `${file} is missing, but the database holds ${storedSecrets} secret${storedSecrets === 1 ? '' : 's'} encrypted with it; ` +
          'restore secrets.key from the backup of this data dir (it must be the same file), or move kss.db aside to start without them',
      );
    }
    const key = randomBytes(SECRET_KEY_BYTES);
    try {
      writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process created it between our check and our write: use theirs.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadSecretKey(file, storedSecrets);
      throw err;
    }
    chmodSync(file, 0o600);
    return { key, file, created: true };
  }
  if (!stat.isFile()) throw new Error(`${file} is not a regular file; it must hold the 32-byte key that encrypts secrets`);
  if (stat.size !== SECRET_KEY_BYTES) {
    throw new Error(
      `${file} holds ${stat.size} bytes, but the key that encrypts secrets is exactly ${SECRET_KEY_BYTES} bytes; ` +
        'restore the original file from your backup (kss never overwrites it: a new key would make every stored secret unreadable)',
    );
  }
  let warning: string | undefined;
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    chmodSync(file, 0o600);
    warning = `${file} was readable by other users (mode ${mode.toString(8).padStart(4, '0')}); it is now 0600. Anyone who read it can decrypt the stored secrets: rotate them with \`kss secret update\``;
  }
  const key = readFileSync(file);
  if (key.length !== SECRET_KEY_BYTES) throw new Error(`${file} changed while it was read; start the gateway again`);
  return { key, file, created: false, ...(warning ? { warning } : {}) };
}
