import { createServer } from 'node:net';

/**
 * Finds a free loopback TCP port by binding port 0 and closing. Another process can
 * take the port before the replica binds it; the supervisor treats that like any
 * failed start (the replica exits, it is restarted on a new port).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
