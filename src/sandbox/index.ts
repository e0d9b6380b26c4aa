/** Isolation of replicas on this machine: namespaces (bubblewrap), a uid per function, cgroups. */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { SecretSource } from '../core/index.js';
import { createCgroupManager, type CgroupManager } from './cgroups.js';
import { describeHost, probeHost, type HostSupport } from './host-support.js';
import { installationOf, Sandbox } from './sandbox.js';
import { UidAllocator } from './uid-allocator.js';

export * from './cgroups.js';
export * from './host-support.js';
export * from './sandbox.js';
export * from './uid-allocator.js';
export * from './volume-gid-allocator.js';
export * from './egress-firewall.js';
import { EgressFirewall } from './egress-firewall.js';

/** `auto` isolates as much as the host allows (warning about the rest); `off` runs plain processes; `require` refuses to start without full isolation. */
export type SandboxMode = 'auto' | 'off' | 'require';

export interface SandboxSetup {
  /** The sandbox replicas run in, or undefined for plain processes. */
  sandbox?: Sandbox;
  host?: HostSupport;
  /** What is not isolated, in words (empty when everything is). */
  gaps: string[];
}

/**
 * The package.json that decides the module type of the `.js` files under `dir`, when it
 * lies above `dir` (else undefined). Node reads the nearest one; without it in the
 * sandbox, `--experimental-detect-module` compiles each of our runtime's ES modules as
 * CommonJS first, fails, and compiles it again: measured ~3 ms of a sandboxed Node
 * runtime's 30 ms from start to ready (2026-11-23, 100 alternating spawns).
 */
export function typingPackageJson(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'package.json');
    if (existsSync(candidate)) return d === dir ? undefined : candidate;
    if (dirname(d) === d) return undefined;
  }
}

/**
 * Probes the host and builds the sandbox. `readOnlyPaths` are host folders every
 * replica needs (the runtimes, interpreters); the Node running the gateway is added.
 */
export function setUpSandbox(options: {
  mode: SandboxMode;
  db: Database.Database;
  dataDir: string;
  logger: Logger;
  secrets?: SecretSource;
  readOnlyPaths: readonly string[];
}): SandboxSetup {
  if (options.mode === 'off') return { gaps: ['sandbox turned off (--sandbox off)'] };
  const host = probeHost();
  // nftables is an opt-in ability (kss.network: none), not a gap in every replica's isolation.
  const gaps = describeHost(host).filter((c) => !c.ok && c.check !== 'nftables').map((c) => `${c.check}: ${c.detail}`);
  const namespaces = host.namespaces.ok && 'path' in host.bwrap && 'path' in host.setpriv ? { bwrap: host.bwrap.path, setpriv: host.setpriv.path } : undefined;
  if (options.mode === 'require' && (!namespaces || !host.cgroups.ok)) {
    throw new Error(`the sandbox is required (--sandbox require) but this host cannot provide it:\n  ${gaps.join('\n  ')}\nRun \`kss doctor\` for details.`);
  }
  let cgroups: CgroupManager | undefined;
  if (host.cgroups.ok) {
    try {
      cgroups = createCgroupManager(host.cgroups);
    } catch (err) {
      gaps.push(`cgroups: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (!namespaces && !cgroups) return { host, gaps };
  const readOnly = new Set(options.readOnlyPaths);
  const node = installationOf(realpathSync(process.execPath));
  if (!node.startsWith('/usr')) readOnly.add(node);
  for (const p of options.readOnlyPaths) {
    const pkg = typingPackageJson(p);
    if (pkg) readOnly.add(pkg);
  }
  let firewall: EgressFirewall | undefined;
  if (host.firewall.ok && namespaces) {
    try {
      firewall = new EgressFirewall(host.firewall.nft);
    } catch (err) {
      gaps.push(`nftables: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const sandbox = new Sandbox({
    ...(firewall ? { firewall } : {}),
    logger: options.logger,
    uids: new UidAllocator(options.db),
    secrets: options.secrets,
    namespaces,
    cgroups,
    readOnlyPaths: [...readOnly],
    runDir: join(options.dataDir, 'run'),
  });
  return { sandbox, host, gaps };
}
