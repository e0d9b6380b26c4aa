import { request } from 'node:http';

/** One `GET /ready`; resolves true on 200, false on anything else (never rejects). */
export function probeReady(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/ready', method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Poll delay for readiness, by time since the start: every 1 ms for the first half
 * second, then every 25 ms. A warm-pool replica is ready within a few milliseconds
 * and a cold one within ~100 ms, and every millisecond of polling lag is cold-start
 * latency (doubling delays added up to 30 ms here); a probe costs the gateway about
 * 0.1 ms, and a slow starter costs at most 40 probes a second after that.
 */
export function pollDelay(elapsedMs: number): number {
  return elapsedMs < 500 ? 1 : 25;
}
