/**
 * Where the CLI keeps credentials per gateway: `$KSS_CONFIG`, default
 * `~/.config/kss/config.json`, mode 0600. faas-cli's `~/.openfaas/config.yml` is
 * read too, so a `faas-cli login` works for `kss` as well. `KSS_TOKEN` overrides both.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';

export type Credentials = { username: string; password: string } | { token: string };

interface ConfigFile {
  gateways: Record<string, Credentials>;
}

export function configPath(): string {
  return process.env.KSS_CONFIG ?? join(homedir(), '.config', 'kss', 'config.json');
}

function normalise(gateway: string): string {
  return gateway.replace(/\/+$/, '');
}

function readConfig(): ConfigFile {
  const path = configPath();
  if (!existsSync(path)) return { gateways: {} };
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<ConfigFile>;
    return { gateways: parsed.gateways ?? {} };
  } catch {
    return { gateways: {} };
  }
}

export function saveCredentials(gateway: string, credentials: Credentials): string {
  const path = configPath();
  const config = readConfig();
  config.gateways[normalise(gateway)] = credentials;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

export function removeCredentials(gateway: string): boolean {
  const config = readConfig();
  if (!config.gateways[normalise(gateway)]) return false;
  delete config.gateways[normalise(gateway)];
  writeFileSync(configPath(), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return true;
}

/** Credentials for `gateway`: `KSS_TOKEN`, then kss' config, then faas-cli's. */
export function loadCredentials(gateway: string): Credentials | undefined {
  if (process.env.KSS_TOKEN) return { token: process.env.KSS_TOKEN };
  const own = readConfig().gateways[normalise(gateway)];
  if (own) return own;
  return faasCliCredentials(gateway);
}

/** faas-cli stores `auths: [{ gateway, auth: basic, token: base64(user:pass) }]`. */
function faasCliCredentials(gateway: string): Credentials | undefined {
  const path = join(process.env.OPENFAAS_CONFIG ?? join(homedir(), '.openfaas'), 'config.yml');
  if (!existsSync(path)) return undefined;
  try {
    const doc = parseYaml(readFileSync(path, 'utf8')) as { auths?: Array<{ gateway?: string; auth?: string; token?: string }> };
    const entry = doc.auths?.find((a) => a.gateway && normalise(a.gateway) === normalise(gateway) && a.auth === 'basic' && a.token);
    if (!entry) return undefined;
    const decoded = Buffer.from(entry.token!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  } catch {
    return undefined;
  }
}

/** The `Authorization` header value for credentials. */
export function authorizationHeader(credentials: Credentials | undefined): string | undefined {
  if (!credentials) return undefined;
  if ('token' in credentials) return `Bearer ${credentials.token}`;
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}
