/**
 * Load generators, run inside the benchmark process: Node `net` (or `tls` for the direct-TLS
 * baseline), 127.0.0.1 only, every loop bounded and every wait under a timeout.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

/** How the load generator reaches a contender: plain TCP to a port, or mTLS itself. */
export interface Target {
  port: number;
  tls?: tls.ConnectionOptions;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x62);

export function connect(target: Target): net.Socket {
  if (target.tls) return tls.connect({ ...target.tls, host: '127.0.0.1', port: target.port });
  return net.connect({ host: '127.0.0.1', port: target.port, noDelay: true });
}

function connected(s: net.Socket, target: Target): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.once(target.tls ? 'secureConnect' : 'connect', () => {
      s.off('error', reject);
      resolve();
    });
  });
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function header(mode: 'S' | 'R', length: number): Buffer {
  const b = Buffer.alloc(9);
  b.write(mode, 0, 'latin1');
  b.writeBigUInt64BE(BigInt(length), 1);
  return b;
}

/** Seconds to push `bytes` through one connection and have the backend confirm them all. */
export async function bulkUp(target: Target, bytes: number, timeoutMs: number): Promise<number> {
  const s = connect(target);
  try {
    return await withTimeout((async () => {
      await connected(s, target);
      const acked = new Promise<void>((resolve, reject) => {
        s.once('data', () => resolve());
        s.once('error', reject);
        s.once('close', () => reject(new Error('closed before the sink confirmed')));
      });
      acked.catch(() => undefined);
      let wake: (() => void) | undefined;
      s.on('drain', () => wake?.());
      s.once('close', () => wake?.());
      const t0 = performance.now();
      s.write(header('S', bytes));
      let left = bytes;
      while (left > 0) {
        if (s.destroyed) throw new Error('closed while sending');
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          await new Promise<void>((resolve) => (wake = resolve));
        }
      }
      await acked;
      return (performance.now() - t0) / 1000;
    })(), timeoutMs, 'bulk up');
  } finally {
    s.destroy();
  }
}

/** Seconds to receive `bytes` from the backend over one connection. */
export async function bulkDown(target: Target, bytes: number, timeoutMs: number): Promise<number> {
  const s = connect(target);
  try {
    return await withTimeout((async () => {
      await connected(s, target);
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        let got = 0;
        s.on('data', (chunk: Buffer) => {
          got += chunk.length;
          if (got >= bytes) resolve();
        });
        s.once('error', reject);
        s.once('close', () => reject(new Error(`closed after ${got} of ${bytes} bytes`)));
        s.write(header('R', bytes));
      });
      return (performance.now() - t0) / 1000;
    })(), timeoutMs, 'bulk down');
  } finally {
    s.destroy();
  }
}

/**
 * How a connection of the conn/s row ends once its echo arrived:
 * - `clean`: `end()`, then wait until the peer has ended too and the socket closed, as psql,
 *   redis-cli and curl do (the bridge sees a FIN and can shut its TLS session down properly);
 * - `abrupt`: `destroy()` right after the first echoed byte (the bridge sees a FIN with its reply
 *   possibly unsent, or a reset).
 * A bridge that does not shut a TLS connection down properly loses that session from OpenSSL's
 * client cache, so the two can differ in how many upstream handshakes are resumed.
 */
export type CloseMode = 'clean' | 'abrupt';
export const CLOSE_MODES: CloseMode[] = ['clean', 'abrupt'];

/**
 * connect → 'E' + one byte → first echoed byte; resolves with that latency in ms (then, unless
 * `keep`, closes the way `close` says and resolves once that is done).
 */
export function echoOnce(target: Target, keep = false, close: CloseMode = 'abrupt'): Promise<{ ms: number; socket?: net.Socket }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect(target);
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before the echo')));
    s.once('data', () => {
      const ms = performance.now() - t0;
      s.removeAllListeners('close');
      s.removeAllListeners('error');
      if (keep) {
        s.on('error', () => undefined);
        resolve({ ms, socket: s });
      } else if (close === 'clean') {
        // Read whatever else comes, half-close, and wait for the peer's end and the close.
        s.on('data', () => undefined);
        s.once('error', reject);
        s.once('close', () => resolve({ ms }));
        s.end();
      } else {
        s.on('error', () => undefined);
        s.destroy();
        resolve({ ms });
      }
    });
    // Written at once: the bridge buffers it until its upstream handshake is done.
    s.write('Ex');
  });
}

/** The backend's handshake counters (bench/backend.ts `C` request on its plain port). */
export function handshakeCounters(plainPort: number): Promise<{ full: number; resumed: number }> {
  return withTimeout(new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: plainPort });
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.once('error', reject);
    s.once('end', () => {
      try {
        resolve(JSON.parse(text) as { full: number; resumed: number });
      } catch (e) {
        reject(e);
      }
    });
    s.write('C');
  }), 10_000, 'backend counters');
}

export interface ConnRateResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  count: number;
  errors: number;
}

/**
 * New connections per second at `concurrency`: each connects, waits for its first echoed byte
 * (the latency), then closes as `close` says; the next starts once that close is done.
 */
export async function connRate(target: Target, concurrency: number, durationMs: number, maxConnections: number, close: CloseMode = 'abrupt'): Promise<ConnRateResult> {
  const latencies: number[] = [];
  let errors = 0;
  let started = 0;
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  const worker = async () => {
    while (performance.now() < deadline && started < maxConnections && errors < 100) {
      started++;
      try {
        const r = await withTimeout(echoOnce(target, false, close), 10_000, 'connect+echo');
        latencies.push(r.ms);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), count: latencies.length, errors };
}

/**
 * Round trips of `size`-byte messages on one persistent connection; latencies in ms. Back to back
 * unless `gapMs` says how long to wait before each next round: back to back, a stall of the bridge
 * delays one round however long it lasts (coordinated omission), while rounds sent at times that do
 * not follow the bridge's rhythm land in a stall as often as a user's request would.
 */
export async function pingPong(target: Target, rounds: number, size: number, warmup: number, gapMs?: () => number): Promise<{ p50Ms: number; p99Ms: number; maxMs: number }> {
  const { socket } = await withTimeout(echoOnce(target, true), 10_000, 'ping connect');
  const s = socket!;
  const msg = Buffer.alloc(size, 0x70);
  const latencies: number[] = [];
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      let got = 0;
      let round = 0;
      let t = 0;
      const send = () => {
        got = 0;
        t = performance.now();
        s.write(msg);
      };
      s.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got < size) return;
        if (round >= warmup) latencies.push(performance.now() - t);
        round++;
        if (round >= warmup + rounds) resolve();
        else if (gapMs) setTimeout(send, gapMs());
        else send();
      });
      s.once('close', () => reject(new Error('closed during ping-pong')));
      send();
    }), 60_000, 'ping-pong');
  } finally {
    s.destroy();
  }
  return { p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxMs: percentile(latencies, 100) };
}

/**
 * Open loop: a `size`-byte message due every `everyMs` on one connection, whatever came back, each
 * timed from when it was due to its echo. A stall of T ms then delays every message due in it (by
 * T, T - everyMs, ...), so the percentiles weigh a stall by how long it lasts, which round trips
 * one at a time cannot: a 100 ms block holds up only the one round under way.
 */
export async function steadyStream(target: Target, count: number, size: number, everyMs: number): Promise<{ p50Ms: number; p99Ms: number; maxMs: number }> {
  const s = (await withTimeout(echoOnce(target, true), 10_000, 'stream connect')).socket!;
  const msg = Buffer.alloc(size, 0x73);
  const due: number[] = [];
  const ms: number[] = [];
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      let got = 0;
      s.on('data', (chunk: Buffer) => {
        got += chunk.length;
        const now = performance.now();
        while (ms.length < due.length && got >= (ms.length + 1) * msg.length) ms.push(now - due[ms.length]);
        if (ms.length >= count) resolve();
      });
      s.once('close', () => reject(new Error('closed during the stream')));
      const t0 = performance.now();
      const tick = () => {
        while (due.length < count && t0 + due.length * everyMs <= performance.now()) {
          due.push(t0 + due.length * everyMs);
          s.write(msg);
        }
        if (due.length < count) setTimeout(tick, 1);
      };
      tick();
    }), 60_000, 'stream');
  } finally {
    s.destroy();
  }
  return { p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: percentile(ms, 100) };
}

/** Opens `count` connections (each confirmed end to end by an echo), `concurrency` at a time. */
export async function openIdle(target: Target, count: number, concurrency: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const { socket } = await withTimeout(echoOnce(target, true), 15_000, 'idle connection');
      sockets.push(socket!);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } catch (e) {
    for (const s of sockets) s.destroy();
    throw e;
  }
  return sockets;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return NaN;
  const sorted = [...v].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
