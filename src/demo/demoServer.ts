/**
 * The embedded demo target: a real mTLS echo server on 127.0.0.1 that demands a client
 * certificate from its CA, greets each client by certificate name, then echoes every byte.
 */
import { readFile } from 'node:fs/promises';
import { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { ThrowawayPki } from '../core/pki/testPki';

export interface DemoServer {
  port: number;
  close(): Promise<void>;
}

export async function startDemoServer(pki: Pick<ThrowawayPki, 'server' | 'ca'>, port = 0): Promise<DemoServer> {
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({
    cert: await readFile(pki.server.cert),
    key: await readFile(pki.server.key),
    ca: await readFile(pki.ca),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    allowHalfOpen: true,
  }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
