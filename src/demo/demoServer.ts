/**
 * The embedded demo target: a real mTLS echo server on 127.0.0.1 that demands a client
 * certificate from its CA and echoes every byte it receives.
 */
import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ThrowawayPki } from '../core/pki/testPki';

export interface DemoServer {
  port: number;
  close(): Promise<void>;
}

export async function startDemoServer(pki: Pick<ThrowawayPki, 'server' | 'ca'>, port = 0): Promise<DemoServer> {
  // Every accepted connection, from before its handshake: one that never sends a ClientHello
  // (a port probe, a client that gave up) would otherwise keep close() waiting forever, since
  // allowHalfOpen leaves its side open after the peer's FIN.
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({
    cert: await readFile(pki.server.cert),
    key: await readFile(pki.server.key),
    ca: await readFile(pki.ca),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    allowHalfOpen: true,
  }, (socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
