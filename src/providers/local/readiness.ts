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
 * Poll delays for readiness: start at 1 ms and double up to 25 ms. A Node replica is
 * ready within tens of milliseconds, so the first polls must be tight for cold
 * starts to stay in milliseconds, while a slow starter costs at most 40 polls/s.
 */
export function nextPollDelay(previous: number): number {
  return previous <= 0 ? 1 : Math.min(previous * 2, 25);
}
