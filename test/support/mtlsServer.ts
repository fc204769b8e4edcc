/**
 * Small real mTLS servers on 127.0.0.1 for engine tests: they demand a client certificate from
 * the test PKI and run a handler per connection (echo by default).
 */
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { AddressInfo } from 'node:net';
import { PkiFiles, ThrowawayPki } from '../../src/core/pki/testPki';

export interface TestServer {
  port: number;
  server: tls.Server;
  /** Subjects (CN) of the client certificates seen, in order. */
  clients: string[];
  close(): Promise<void>;
}

export interface TestServerOptions {
  identity?: PkiFiles;
  /** CA file(s) trusted for client certificates; default the test root. */
  clientCa?: string;
  requestCert?: boolean;
  alpn?: string[];
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  handler?: (socket: tls.TLSSocket) => void;
}

export async function startMtlsServer(pki: ThrowawayPki, options: TestServerOptions = {}): Promise<TestServer> {
  const identity = options.identity ?? pki.server;
  const clients: string[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({
    cert: readFileSync(identity.cert),
    key: readFileSync(identity.key),
    ca: readFileSync(options.clientCa ?? pki.ca),
    requestCert: options.requestCert ?? true,
    rejectUnauthorized: options.requestCert ?? true,
    ALPNProtocols: options.alpn,
    minVersion: options.minVersion,
    maxVersion: options.maxVersion,
    allowHalfOpen: true,
  }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const cn = (socket.getPeerCertificate() as tls.PeerCertificate | null)?.subject?.CN;
    clients.push(Array.isArray(cn) ? cn.join(',') : cn ?? '');
    (options.handler ?? ((s) => s.pipe(s)))(socket);
  });
  server.on('tlsClientError', () => undefined);
  // Raw sockets too: a client that gives up mid-handshake never becomes a secure connection,
  // and with allowHalfOpen the server would otherwise wait for it forever on close().
  const raw = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    raw.add(s);
    s.on('close', () => raw.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    clients,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      for (const s of raw) s.destroy();
      server.close(() => resolve());
    }),
  };
}
