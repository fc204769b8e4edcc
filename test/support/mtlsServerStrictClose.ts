/**
 * `startMtlsServer` whose close() also ends connections left mid-handshake. A Node TLS server
 * with `allowHalfOpen` (which the test server needs for half-close tests) never cleans up a
 * connection whose client gives up during the handshake, as a tunnel does when it refuses the
 * server's certificate: the socket stays half-open, `server.close()` waits for it forever, and
 * the test runner reports "Promise resolution is still pending". The doctor's tests meet that
 * case on purpose, so they close this way.
 */
import * as net from 'node:net';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { startMtlsServer, TestServer, TestServerOptions } from './mtlsServer';

export async function startMtlsServerStrictClose(pki: ThrowawayPki, options: TestServerOptions = {}): Promise<TestServer> {
  const server = await startMtlsServer(pki, options);
  const raw = new Set<net.Socket>();
  server.server.on('connection', (socket: net.Socket) => {
    raw.add(socket);
    socket.once('close', () => raw.delete(socket));
  });
  return {
    ...server,
    close: () => {
      for (const socket of raw) socket.destroy();
      return server.close();
    },
  };
}
