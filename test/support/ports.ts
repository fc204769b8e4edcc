/** Local ports for tests: listening on 127.0.0.1, and a port nothing listens on. */
import * as net from 'node:net';

/**
 * Listens on `host:port` (default 127.0.0.1 and a port the kernel picks, Node's default backlog);
 * resolves with the port.
 */
export function listenLocal(server: net.Server, port = 0, host = '127.0.0.1', backlog?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog }, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/**
 * A port that was free a moment ago on 127.0.0.1: bound, then released, so nothing listens on it.
 * The kernel may hand it out again before the caller binds it; tests accept that small race for
 * knowing the port up front.
 */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  server.unref();
  const port = await listenLocal(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
