/**
 * The admin account, as faasd keeps it: `basic-auth-user` and
 * `basic-auth-password` in the data dir, mode 0600, the password generated on
 * first start. `faas-cli login` and `kss login` use it over basic auth.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AdminCredentials {
  username: string;
  password: string;
  /** Where the password is stored. */
  passwordFile: string;
  /** True when this call generated it (first start). */
  created: boolean;
}

export function ensureAdminCredentials(dataDir: string): AdminCredentials {
  const userFile = join(dataDir, 'basic-auth-user');
  const passwordFile = join(dataDir, 'basic-auth-password');
  let created = false;
  if (!existsSync(passwordFile)) {
    // 32 random bytes → 43 characters, URL- and shell-safe.
    writeFileSync(passwordFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    created = true;
  }
  if (!existsSync(userFile)) writeFileSync(userFile, 'admin\n', { mode: 0o600, flag: 'wx' });
  // Tighten files an older version or a person left readable.
  chmodSync(passwordFile, 0o600);
  chmodSync(userFile, 0o600);
  const password = readFileSync(passwordFile, 'utf8').trim();
  const username = readFileSync(userFile, 'utf8').trim() || 'admin';
  if (password.length < 8) throw new Error(`${passwordFile} holds a password shorter than 8 characters; delete the file to generate a new one`);
  return { username, password, passwordFile, created };
}
