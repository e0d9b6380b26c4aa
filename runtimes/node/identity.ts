/**
 * Taking on a function's identity inside the sandbox, shared by the runtimes written in
 * TypeScript (Node, exec). The sandbox starts our runtimes as root holding only the
 * capabilities to switch ids (and, for a pooled process, to chown), so that one exec
 * (setpriv) is saved on every cold start; the runtime drops to the function's uid and
 * gid for good before any of the function's code is loaded or run.
 */
import { writeFileSync } from 'node:fs';

/** Where OpenFaaS functions read their secrets (a tmpfs the sandbox mounts for a pooled process). */
export const SECRETS_DIR = '/var/openfaas/secrets';

/** The ids a replica takes on: uid, gid, and the gids of its volumes as supplementary groups. */
export interface RunAs {
  uid: number;
  gid: number;
  /** Supplementary groups (the function's volumes, `kss.volume`); with any, the umask becomes 0002. */
  groups?: number[];
}

/** The umask of a function with volumes: what it creates is writable by the volume's group (docs/volumes.md). */
export const VOLUME_UMASK = 0o002;

/** The line a pooled process receives: the function's environment, and in a sandbox its uid and secrets. */
export interface Specialisation {
  env: Record<string, string>;
  runAs?: RunAs;
  /** Secret values by name, base64. */
  secrets?: Record<string, string>;
}

/** `KSS_RUN_AS=uid:gid` and `KSS_RUN_GROUPS=gid,gid,…` (both removed from `env`), or undefined. */
export function runAsFromEnv(env: NodeJS.ProcessEnv): RunAs | undefined {
  const raw = env.KSS_RUN_AS;
  const rawGroups = env.KSS_RUN_GROUPS;
  delete env.KSS_RUN_AS;
  delete env.KSS_RUN_GROUPS;
  if (!raw) return undefined;
  const m = /^(\d+):(\d+)$/.exec(raw);
  if (!m) throw new Error(`KSS_RUN_AS must be uid:gid, got "${raw}"`);
  if (rawGroups !== undefined && rawGroups !== '' && !/^\d+(,\d+)*$/.test(rawGroups)) throw new Error(`KSS_RUN_GROUPS must be gids separated by commas, got "${rawGroups}"`);
  const groups = rawGroups ? rawGroups.split(',').map(Number) : [];
  return { uid: Number(m[1]), gid: Number(m[2]), ...(groups.length ? { groups } : {}) };
}

/** Writes the secrets (0444, in a folder only this sandbox sees), then switches to the function's uid/gid and checks it stuck. */
export function becomeFunction(line: Specialisation): void {
  for (const [name, value] of Object.entries(line.secrets ?? {})) {
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..') throw new Error(`invalid secret name "${name}"`);
    writeFileSync(`${SECRETS_DIR}/${name}`, Buffer.from(value, 'base64'), { mode: 0o444 });
  }
  if (line.runAs) {
    const { uid, gid } = line.runAs;
    const groups = line.runAs.groups ?? [];
    if (!groups.every((g) => Number.isInteger(g) && g >= 0)) throw new Error(`invalid supplementary groups ${JSON.stringify(groups)}`);
    process.setgroups?.(groups);
    process.setgid?.(gid);
    process.setuid?.(uid);
    if (process.getuid?.() !== uid || process.getgid?.() !== gid) throw new Error(`still running as ${process.getuid?.()}:${process.getgid?.()}`);
    // Node lists the egid among the groups; nothing else may be there but the volumes'.
    const held = process.getgroups?.() ?? [];
    if (held.some((g) => g !== gid && !groups.includes(g)) || groups.some((g) => !held.includes(g))) throw new Error(`supplementary groups are ${held.join(',')}, expected ${groups.join(',') || 'none'}`);
    // Files a function creates in a shared volume must be writable by the volume's group.
    if (groups.length) process.umask(VOLUME_UMASK);
  }
}

/**
 * At start-up of a fresh (not pooled) replica: `KSS_RUN_AS` set means the sandbox
 * started us as root holding only CAP_SETUID/CAP_SETGID; drop to the function's ids
 * now, or exit with `failureCode` rather than run anything as root.
 */
export function dropToFunctionFromEnv(failureCode: number): void {
  try {
    const runAs = runAsFromEnv(process.env);
    if (runAs) becomeFunction({ env: {}, runAs });
  } catch (err) {
    process.stderr.write(`[kss-runtime] error: cannot take on the function's identity: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(failureCode);
  }
}
