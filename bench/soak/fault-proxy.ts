/**
 * A fault-injecting TCP proxy on loopback: forwards every connection to a broker, and
 * on `outage` cuts every open connection and refuses new ones (accepts and closes them
 * at once) until the outage ends. It stands in for a broker restart where the broker is
 * shared with other users of this machine and cannot be restarted safely.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** A running proxy. */
export interface FaultProxy {
  /** The loopback port it listens on. */
  port: number;
  /** Cuts every connection now and refuses new ones for `ms`. Resolves when the outage is over. */
  outage(ms: number): Promise<void>;
  /** Connections open now (client side). */
  open(): number;
  close(): Promise<void>;
}

/** Starts a proxy from 127.0.0.1:<free port> to `target`. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(target);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    outage: async (ms) => {
      down = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise((r) => setTimeout(r, ms));
      down = false;
    },
    open: () => [...sockets].length / 2,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
