/**
 * Least in-flight balancing across a function's ready endpoints. Ties go round
 * robin, so with one connection the replicas still share the load evenly.
 */
import type { Endpoint } from '../core/index.js';

export class LeastInFlightBalancer {
  readonly #inFlight = new Map<string, number>();
  #cursor = 0;

  /** Picks an endpoint and counts a request on it; call the returned `release` when done. */
  acquire(endpoints: readonly Endpoint[]): { endpoint: Endpoint; release: () => void } {
    const n = endpoints.length;
    const start = this.#cursor++ % n;
    let best = endpoints[start]!;
    let bestLoad = this.#inFlight.get(best.id) ?? 0;
    for (let i = 1; i < n && bestLoad > 0; i++) {
      const e = endpoints[(start + i) % n]!;
      const load = this.#inFlight.get(e.id) ?? 0;
      if (load < bestLoad) {
        best = e;
        bestLoad = load;
      }
    }
    this.#inFlight.set(best.id, bestLoad + 1);
    let released = false;
    return {
      endpoint: best,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#inFlight.get(best.id) ?? 1) - 1;
        if (left <= 0) this.#inFlight.delete(best.id);
        else this.#inFlight.set(best.id, left);
      },
    };
  }

  inFlight(endpointId: string): number {
    return this.#inFlight.get(endpointId) ?? 0;
  }
}
