/**
 * What the tunnel engine tests share: bounded waits (every wait has a deadline, so a broken
 * tunnel fails a test instead of hanging the run), local clients that stream and hash, server
 * handlers that sink or source a stream, and a logger that records every line. (The PKI:
 * ./pkiFixture; the mTLS server: ./mtlsServer; ports: ./ports.)
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { TestContext } from 'node:test';
import { TunnelConfig } from '../../src/core/config/model';
import { Logger } from '../../src/core/log';
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
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Waits until `read()` has kept one value for `quietMs` (polled every 10 ms), and returns it:
 * for "it stopped moving" (a stream stalled by backpressure), the one thing no event announces.
 * Rejects after `ms`.
 */
export async function settled<T>(read: () => T, quietMs: number, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  let value = read();
  let since = Date.now();
  for (;;) {
    await sleep(10);
    const now = read();
    if (JSON.stringify(now) !== JSON.stringify(value)) {
      value = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return value;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what} to settle`);
  }
}

/** The tunnel's view of the connection from local `socket`; undefined before it is accepted and after it is gone. */
export function connectionOf(tunnel: Tunnel, socket: net.Socket): ReturnType<Tunnel['snapshot']>['connections'][number] | undefined {
  return tunnel.snapshot().connections.find((c) => c.client === `${socket.localAddress}:${socket.localPort}`);
}

export function sha256(data: Buffer | Buffer[]): string {
  const h = createHash('sha256');
  for (const b of Array.isArray(data) ? data : [data]) h.update(b);
  return h.digest('hex');
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
export async function connectLocal(t: TestContext | undefined, port: number | undefined): Promise<net.Socket> {
  if (port === undefined) throw new Error('not a TCP listener: no port to connect to');
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
/** Resolves with the error a fresh connection to the port gets (undefined when it connects). */
export function connectError(port: number): Promise<NodeJS.ErrnoException | undefined> {
  return within(new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (e) => resolve(e));
  }), 3000, `a connection attempt to ${port}`);
}

export async function echoOnce(socket: net.Socket, message: string, ms = 3000): Promise<string> {
  socket.write(message);
  return (await readBytes(socket, Buffer.byteLength(message), ms)).toString();
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
