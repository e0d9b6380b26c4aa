/**
 * "No network" for a function (`kss.network: none`): its replicas may not open any
 * connection or send any datagram — not to the internet, not to the host's databases
 * on loopback — while the gateway still reaches them. nftables does it by uid, which
 * every sandboxed function has of its own (uid-allocator.ts): one rule in the output
 * hook rejects packets that start a new connection (`ct state new`) from a uid in the
 * set `no_network_uids`; replies on connections the gateway opened are established
 * and pass. Pooled processes drop to the function's uid at specialisation, so the rule
 * applies to them from that moment on, with no respawn.
 *
 * Why not a network namespace: a replica alone in one is unreachable from the gateway
 * without a veth pair and routing per replica, or runtimes listening on Unix sockets;
 * the uid rule costs nothing on the invoke path or at start.
 *
 * The table (`inet kube_serverless`) is shared by every gateway on the host. Every
 * replica start sets its uid's entry to what its spec asks (in or out), so an entry
 * a killed gateway left behind is corrected by the next start; a clean shutdown
 * removes its own.
 */
import { spawnSync } from 'node:child_process';

export const FIREWALL_TABLE = 'kube_serverless';
const SET = 'no_network_uids';

export class EgressFirewall {
  readonly #nft: string;
  /** Our view of the set: what this gateway added (so it does not exec nft for nothing). */
  readonly #blocked = new Set<number>();
  /** The uids this gateway put in the set. */
  readonly #added = new Set<number>();

  constructor(nft: string) {
    this.#nft = nft;
    // Idempotent: `add` on an existing table, set or chain is a no-op; the rule is added only when the chain has none.
    this.#run(['add', 'table', 'inet', FIREWALL_TABLE]);
    this.#run(['add', 'set', 'inet', FIREWALL_TABLE, SET, '{ type uid; }']);
    this.#run(['add', 'chain', 'inet', FIREWALL_TABLE, 'output', '{ type filter hook output priority 0; policy accept; }']);
    const chain = this.#run(['list', 'chain', 'inet', FIREWALL_TABLE, 'output']);
    if (!chain.includes(`@${SET}`)) this.#run(['add', 'rule', 'inet', FIREWALL_TABLE, 'output', 'meta', 'skuid', `@${SET}`, 'ct', 'state', 'new', 'counter', 'reject']);
    // Start from what the kernel has (another gateway, or this one before a restart).
    for (const m of /elements = \{([^}]*)\}/.exec(this.#run(['list', 'set', 'inet', FIREWALL_TABLE, SET]))?.[1]?.split(',') ?? []) {
      const uid = Number(m.trim());
      if (Number.isInteger(uid)) this.#blocked.add(uid);
    }
  }

  /** Blocks (`none`) or allows (`host`) new connections from `uid`. */
  apply(uid: number, network: 'none' | 'host'): void {
    if (network === 'none' && !this.#blocked.has(uid)) {
      this.#run(['add', 'element', 'inet', FIREWALL_TABLE, SET, `{ ${uid} }`]);
      this.#blocked.add(uid);
      this.#added.add(uid);
    } else if (network === 'host' && this.#blocked.has(uid)) {
      this.#run(['delete', 'element', 'inet', FIREWALL_TABLE, SET, `{ ${uid} }`]);
      this.#blocked.delete(uid);
    }
  }

  /** Removes every uid this gateway added (at shutdown). Entries left by a gateway that died are corrected at each replica start. */
  releaseAll(): void {
    for (const uid of this.#added) this.apply(uid, 'host');
    this.#added.clear();
  }

  blocked(uid: number): boolean {
    return this.#blocked.has(uid);
  }

  #run(args: string[]): string {
    const r = spawnSync(this.#nft, args, { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0) throw new Error(`nft ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
    return r.stdout;
  }
}

/** Whether nftables works here (`nft` installed, the kernel's nf_tables usable by us). */
export function probeFirewall(nft: string | undefined): { ok: true; nft: string } | { ok: false; reason: string } {
  if (!nft) return { ok: false, reason: 'nft is not installed (apt-get install nftables); `kss.network: none` needs it' };
  const r = spawnSync(nft, ['list', 'tables'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? { ok: true, nft } : { ok: false, reason: `nft cannot reach the kernel's nf_tables: ${(r.stderr || r.error?.message || '').trim()}` };
}
