/**
 * What this host lets the sandbox do: run as root, build namespaces with bubblewrap
 * (`bwrap`, Debian's `bubblewrap`), drop to another uid with util-linux's `setpriv`,
 * and create cgroups. Read once at start-up; `kss doctor` prints it, and the local
 * provider uses it to decide how much isolation it can give (and warns once when it
 * cannot give all).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { probeCgroups, type CgroupProbe } from './cgroups.js';
import { probeFirewall } from './egress-firewall.js';

export interface HostSupport {
  /** Running as uid 0 (needed to create namespaces as another uid and to create cgroups). */
  root: boolean;
  bwrap: { path: string; version: string } | { missing: string };
  setpriv: { path: string } | { missing: string };
  /** Whether a bwrap sandbox with new mount, pid, ipc and uts namespaces starts here. */
  namespaces: { ok: true } | { ok: false; reason: string };
  cgroups: CgroupProbe;
  /** nftables, for functions without network (`kss.network: none`). */
  firewall: { ok: true; nft: string } | { ok: false; reason: string };
}

/** `name` on PATH, or undefined. */
export function which(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Probes the host (spawns `bwrap` twice; about 20 ms). */
export function probeHost(options: { cgroupRoot?: string } = {}): HostSupport {
  const root = process.getuid?.() === 0;
  const bwrapPath = which('bwrap');
  let bwrap: HostSupport['bwrap'];
  if (!bwrapPath) bwrap = { missing: 'bwrap is not installed: apt-get install bubblewrap' };
  else {
    const v = spawnSync(bwrapPath, ['--version'], { encoding: 'utf8', timeout: 5000 });
    bwrap = v.status === 0 ? { path: bwrapPath, version: v.stdout.trim().replace(/^bubblewrap\s*/, '') } : { missing: `${bwrapPath} --version failed: ${(v.stderr || v.error?.message || '').trim()}` };
  }
  const setprivPath = which('setpriv');
  const setpriv: HostSupport['setpriv'] = setprivPath ? { path: setprivPath } : { missing: 'setpriv is not installed: apt-get install util-linux' };

  let namespaces: HostSupport['namespaces'];
  if (!('path' in bwrap)) namespaces = { ok: false, reason: 'needs bwrap' };
  else if (!root) namespaces = { ok: false, reason: 'the gateway is not running as root, so it cannot start replicas in namespaces as other uids' };
  else {
    const t = spawnSync(bwrap.path, ['--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--as-pid-1', '--', 'true'], { encoding: 'utf8', timeout: 5000 });
    namespaces = t.status === 0 ? { ok: true } : { ok: false, reason: `bwrap could not create namespaces: ${(t.stderr || t.error?.message || `exit ${t.status}`).trim()}` };
  }
  const cgroups: CgroupProbe = root ? probeCgroups(options.cgroupRoot) : { ok: false, reason: 'creating cgroups needs root (or a delegated cgroup v2 subtree)' };
  const firewall = root ? probeFirewall(which('nft') ?? which('nft', '/usr/sbin:/sbin')) : { ok: false as const, reason: 'nftables rules need root' };
  return { root, bwrap, setpriv, namespaces, cgroups, firewall };
}

/** One line per ability, for `kss doctor` and the start-up warning. */
export function describeHost(h: HostSupport): Array<{ check: string; ok: boolean; detail: string }> {
  return [
    { check: 'root', ok: h.root, detail: h.root ? 'running as uid 0' : 'not root: replicas run as the gateway\'s own user, unisolated' },
    { check: 'bubblewrap', ok: 'path' in h.bwrap, detail: 'path' in h.bwrap ? `${h.bwrap.path} ${h.bwrap.version}` : h.bwrap.missing },
    { check: 'setpriv', ok: 'path' in h.setpriv, detail: 'path' in h.setpriv ? h.setpriv.path : h.setpriv.missing },
    { check: 'namespaces', ok: h.namespaces.ok, detail: h.namespaces.ok ? 'mount, pid, ipc and uts namespaces work' : h.namespaces.reason },
    {
      check: 'cgroups',
      ok: h.cgroups.ok,
      detail: h.cgroups.ok ? (h.cgroups.version === 2 ? `cgroup v2 at ${h.cgroups.mount}` : `cgroup v1 (${Object.values(h.cgroups.mounts).join(', ')})`) : h.cgroups.reason,
    },
    { check: 'nftables', ok: h.firewall.ok, detail: h.firewall.ok ? `${h.firewall.nft}: functions can be cut off the network (kss.network: none)` : h.firewall.reason },
  ];
}
