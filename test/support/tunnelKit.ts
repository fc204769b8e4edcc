/**
 * What the tunnel engine tests share: bounded waits (every wait has a deadline, so a broken
 * tunnel fails a test instead of hanging the run), local clients that stream and hash, backends
 * built on a raw TCP socket wrapped in TLS (so a test can reset the TCP connection or speak a
 * plaintext preamble first), and a logger that records every line.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { TestContext } from 'node:test';
import { TunnelConfig } from '../../src/core/config/model';
import { Logger } from '../../src/core/log';
import { createThrowawayPki, PkiFiles, ThrowawayPki } from '../../src/core/pki/testPki';
import { Tunnel, TunnelOptions } from '../../src/core/tunnel/tunnel';

export const MB = 1024 * 1024;

/** mulberry32: small, fast, seeded. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}


/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it holds; rejects after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function sha256(data: Buffer | Buffer[]): string {
  const h = createHash('sha256');
  for (const b of Array.isArray(data) ? data : [data]) h.update(b);
  return h.digest('hex');
}

/** A throwaway PKI in a temp folder; `dispose` removes it. */
export async function makePki(): Promise<{ pki: ThrowawayPki; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-tunnel-test-'));
  const pki = await createThrowawayPki(dir);
  return { pki, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Starts a tunnel and stops it when the test ends. Unless the test says otherwise it does not
 * watch its files, and connections still open at the end are cut after 100 ms.
 */
export async function startTunnel(t: TestContext, config: TunnelConfig, options: TunnelOptions = {}): Promise<Tunnel> {
  const tunnel = new Tunnel(config, { watchCredentials: false, drainTimeoutMs: 100, ...options });
  t.after(() => tunnel.stop());
  await within(tunnel.start(), 5000, `tunnel ${config.name} to start`);
  return tunnel;
}

export function tunnelPort(tunnel: Tunnel): number {
  const a = tunnel.address();
  if (!a) throw new Error(`tunnel ${tunnel.name} is not listening`);
  return a.port;
}

/** A local plain-TCP client of the tunnel (half-open allowed, like psql or curl). */
export async function connectLocal(t: TestContext | undefined, port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  // Errors surface through closed() and readToEnd(); an unexpected one must not crash the run.
  socket.on('error', () => undefined);
  t?.after(() => socket.destroy());
  await within(new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  }), 3000, `connect to 127.0.0.1:${port}`);
  return socket;
}

/** Writes `data` in chunks, honouring backpressure; ends the socket when `end` is set. */
export async function writeAll(socket: net.Socket, data: Buffer, { end = true, chunk = 256 * 1024 } = {}): Promise<void> {
  for (let off = 0; off < data.length; off += chunk) {
    if (!socket.write(data.subarray(off, off + chunk))) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => { socket.off('close', onClose); resolve(); };
        const onClose = () => { socket.off('drain', onDrain); reject(new Error('socket closed while writing')); };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      });
    }
  }
  if (end) socket.end();
}

export interface Received {
  bytes: number;
  sha256: string;
  /** The data itself, when kept. */
  data?: Buffer;
}

/**
 * Reads until the peer ends its side; resolves with the byte count and SHA-256. Rejects on a
 * socket error, or when the socket closes without a clean end.
 */
export function readToEnd(socket: net.Socket, ms: number, { keep = true } = {}): Promise<Received> {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let bytes = 0;
  return within(new Promise<Received>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      hash.update(d);
      if (keep) chunks.push(d);
    });
    socket.once('end', () => resolve({ bytes, sha256: hash.digest('hex'), data: keep ? Buffer.concat(chunks) : undefined }));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed without an end after ${bytes} bytes`)));
    socket.resume();
  }), ms, `the peer to end (after ${bytes} bytes)`);
}

/**
 * Resolves when the socket has closed, reading (and discarding) whatever still arrives and ending
 * our side when the peer ends, as a real client does; reports the error seen on the way, if any.
 */
export function closed(socket: net.Socket, ms: number): Promise<{ error?: NodeJS.ErrnoException }> {
  let error: NodeJS.ErrnoException | undefined;
  if (socket.closed) return Promise.resolve({});
  socket.on('error', (e) => (error = e));
  socket.once('end', () => socket.end());
  socket.resume();
  return within(new Promise((resolve) => socket.once('close', () => resolve({ error }))), ms, 'the socket to close');
}

/** Reads exactly `n` bytes from a socket, within `ms`. */
export function readBytes(socket: net.Socket, n: number, ms: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  return within(new Promise<Buffer>((resolve, reject) => {
    const onError = (e: Error) => {
      socket.off('data', onData);
      reject(e);
    };
    const onData = (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      if (have >= n) {
        socket.off('data', onData);
        socket.off('error', onError);
        socket.pause();
        const all = Buffer.concat(chunks);
        if (all.length > n) socket.unshift(all.subarray(n));
        resolve(all.subarray(0, n));
      }
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.resume();
  }), ms, `${n} bytes (had ${have})`);
}

/** One request/reply through an echo backend on an open connection. */
export async function echoOnce(socket: net.Socket, message: string, ms = 3000): Promise<string> {
  socket.write(message);
  return (await readBytes(socket, Buffer.byteLength(message), ms)).toString();
}

/** The server side of one accepted connection: the raw TCP socket and the TLS session over it. */
export interface BackendConnection {
  raw: net.Socket;
  tls: tls.TLSSocket;
  /** CN of the client certificate. */
  client: string;
}

export interface Backend {
  port: number;
  /** Connections accepted (TCP) so far. */
  accepted: number;
  /** CN of each authenticated client, in order (unless `recordClients` is false). */
  clients: string[];
  /** TCP connections open at the backend right now. */
  open(): number;
  close(): Promise<void>;
}

export interface BackendOptions {
  port?: number;
  identity?: PkiFiles;
  clientCa?: string;
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
  handler: (c: BackendConnection) => void;
}

/**
 * A real Node TLS server demanding a client certificate from the test PKI, fed by a `net` server
 * that keeps each TCP socket: a test can reset the TCP connection (`raw.resetAndDestroy()`, which
 * a TLSSocket refuses) or speak plaintext before TLS (a PostgreSQL server answering SSLRequest),
 * then hand the socket to the TLS server.
 */
export async function startBackend(t: TestContext | undefined, pki: ThrowawayPki, options: BackendOptions): Promise<Backend> {
  const identity = options.identity ?? pki.server;
  const sockets = new Set<net.Socket>();
  const rawByPort = new Map<number, net.Socket>();
  const backend: Backend = { port: 0, accepted: 0, clients: [], open: () => sockets.size, close: async () => undefined };
  const tlsServer = tls.createServer({
    cert: readFileSync(identity.cert), key: readFileSync(identity.key), ca: readFileSync(options.clientCa ?? pki.ca),
    requestCert: true, rejectUnauthorized: true, allowHalfOpen: true,
    ...(options.handshakeTimeoutMs ? { handshakeTimeout: options.handshakeTimeoutMs } : {}),
  }, (secure) => {
    secure.on('error', () => undefined);
    const raw = rawByPort.get(secure.remotePort ?? -1);
    if (!raw) {
      secure.destroy();
      return;
    }
    const cn = secure.getPeerCertificate()?.subject?.CN;
    const client = Array.isArray(cn) ? cn.join(',') : cn ?? '';
    if (options.recordClients !== false) backend.clients.push(client);
    options.handler({ raw, tls: secure, client });
  });
  // A failed or stalled handshake: with `allowHalfOpen`, Node's TLS server would keep the socket
  // open forever, so a test could not count what the backend still holds.
  tlsServer.on('tlsClientError', (_e, secure) => {
    secure.destroy();
    rawByPort.get(secure.remotePort ?? -1)?.destroy();
  });
  const server = net.createServer({ allowHalfOpen: true }, async (raw) => {
    backend.accepted++;
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  backend.port = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  backend.close = () => (closing ??= new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  t?.after(() => backend.close());
  return backend;
}

/** A port nothing listens on (bound a moment ago, then released). */
export function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface RecordingLogger extends Logger {
  lines: string[];
}

/** Records every line at every level, as `level message`. */
export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  return { lines, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * A server handler that hashes everything it receives and, once the client ends, answers with
 * `<bytes> <sha256>\n` and ends.
 */
export function sinkHandler(socket: net.Socket): void {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (d: Buffer) => {
    bytes += d.length;
    hash.update(d);
  });
  socket.once('end', () => socket.end(`${bytes} ${hash.digest('hex')}\n`));
}

/** A server handler that sends `data` (honouring backpressure) and ends. */
export function sourceHandler(data: Buffer): (socket: net.Socket) => void {
  return (socket) => {
    socket.resume();
    void writeAll(socket, data).catch(() => undefined);
  };
}
