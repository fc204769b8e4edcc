/**
 * The one mTLS test server: a real Node TLS server (on 127.0.0.1 by default) demanding a client certificate
 * from the test PKI, fed by a `net` server that keeps each TCP socket. So a test can reset the TCP
 * connection (`raw.resetAndDestroy()`, which a TLSSocket refuses) or speak plaintext before TLS (a
 * PostgreSQL server answering SSLRequest), and count what the server still holds. Handing a
 * `net.Socket` to the TLS server's 'connection' is what `tls.createServer` does itself, so the
 * handshake is the same native one. Each connection runs a handler (echo by default).
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { TestContext } from 'node:test';
import { PkiFiles, ThrowawayPki } from '../../src/core/pki/testPki';
import { listenLocal } from './ports';

/** The server side of one accepted connection: the raw TCP socket and the TLS session over it. */
export interface MtlsConnection {
  raw: net.Socket;
  tls: tls.TLSSocket;
  /** CN of the client certificate ('' when none). */
  client: string;
}

export interface MtlsServer {
  port: number;
  /** TCP connections accepted so far. */
  accepted: number;
  /** CN of each client whose TLS session came up, in order (unless `recordClients` is false). */
  clients: string[];
  /** TCP connections open at the server right now. */
  open(): number;
  close(): Promise<void>;
}

export interface MtlsServerOptions {
  /** Listen on this port (default: one the kernel picks). */
  port?: number;
  /** Listen on this address (default 127.0.0.1). */
  host?: string;
  /** Pending connections the kernel queues (Node's default otherwise): a thousand dialling at once need more. */
  backlog?: number;
  identity?: PkiFiles;
  /** CA file trusted for client certificates; default the test root. */
  clientCa?: string;
  /** Ask for (and insist on) a client certificate; default true. */
  requestCert?: boolean;
  alpn?: string[];
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** Signature algorithms the server accepts (and asks client certificates to be signed with). */
  sigalgs?: string;
  /**
   * Runs on the plaintext socket before TLS starts (a PostgreSQL server answering SSLRequest);
   * false: TLS does not start, and the socket is the preamble's to finish.
   */
  preamble?: (raw: net.Socket) => Promise<boolean>;
  /**
   * Gives up on a TLS handshake after this long (Node's default otherwise). A client that rejects
   * our certificate may close before its last flight, which would otherwise hold the socket.
   */
  handshakeTimeoutMs?: number;
  /** Keep `clients` (default true); a long run turns it off, or the list itself would grow. */
  recordClients?: boolean;
  /** Runs for each TLS session; default: echo. */
  handler?: (socket: tls.TLSSocket, connection: MtlsConnection) => void;
}

/** Starts the server; with `t`, it closes when that test ends. */
export async function startMtlsServer(pki: Pick<ThrowawayPki, 'server' | 'ca'>, options: MtlsServerOptions = {}, t?: TestContext): Promise<MtlsServer> {
  const identity = options.identity ?? pki.server;
  const requestCert = options.requestCert ?? true;
  const handler = options.handler ?? ((s) => s.pipe(s));
  const sockets = new Set<net.Socket>();
  const rawByPort = new Map<number, net.Socket>();
  const result: MtlsServer = { port: 0, accepted: 0, clients: [], open: () => sockets.size, close: async () => undefined };
  const tlsServer = tls.createServer({
    cert: readFileSync(identity.cert), key: readFileSync(identity.key), ca: readFileSync(options.clientCa ?? pki.ca),
    requestCert, rejectUnauthorized: requestCert, allowHalfOpen: true,
    ALPNProtocols: options.alpn, minVersion: options.minVersion, maxVersion: options.maxVersion,
    ...(options.sigalgs ? { sigalgs: options.sigalgs } : {}),
    ...(options.handshakeTimeoutMs ? { handshakeTimeout: options.handshakeTimeoutMs } : {}),
  }, (secure) => {
    secure.on('error', () => undefined);
    const raw = rawByPort.get(secure.remotePort ?? -1);
    if (!raw) {
      secure.destroy();
      return;
    }
    const cn = (secure.getPeerCertificate() as tls.PeerCertificate | null)?.subject?.CN;
    const client = Array.isArray(cn) ? cn.join(',') : cn ?? '';
    if (options.recordClients !== false) result.clients.push(client);
    handler(secure, { raw, tls: secure, client });
  });
  // A failed or stalled handshake: with `allowHalfOpen`, Node's TLS server would keep the socket
  // open forever, so a test could not count what the server still holds, nor close it.
  tlsServer.on('tlsClientError', (_e, secure) => {
    secure.destroy();
    rawByPort.get(secure.remotePort ?? -1)?.destroy();
  });
  const server = net.createServer({ allowHalfOpen: true }, async (raw) => {
    result.accepted++;
    sockets.add(raw);
    const port = raw.remotePort ?? -1;
    rawByPort.set(port, raw);
    raw.on('close', () => {
      sockets.delete(raw);
      rawByPort.delete(port);
    });
    raw.on('error', () => undefined);
    if (options.preamble && !(await options.preamble(raw).catch(() => false))) return;
    tlsServer.emit('connection', raw);
  });
  result.port = await listenLocal(server, options.port ?? 0, options.host, options.backlog);
  let closing: Promise<void> | undefined;
  result.close = () => (closing ??= new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  t?.after(() => result.close());
  return result;
}
