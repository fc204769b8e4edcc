/**
 * What the reliability suite adds to tunnelKit: seeded data (a failure reproduces), counts of open
 * file descriptors and libuv handles for leak checks, the file-descriptor budget of a thousand
 * connections, a scripted backend whose every connection is told what to do, and a bystander: a
 * long-lived connection that must keep flowing, byte-checked, while a fault hits other ones.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { TestContext } from 'node:test';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { MtlsConnection, MtlsServer, startMtlsServer } from '../support/mtlsServer';
import { connectLocal, prng, readBytes, sleep, until, writeAll } from '../support/tunnelKit';

export { prng };
import { SSL_REQUEST } from '../support/fakePostgres';


/** A reproducible stream of random-looking bytes (AES-CTR keystream) named by `seed`. */
export class SeededBytes {
  private readonly cipher;
  constructor(seed: string | number) {
    const digest = createHash('sha256').update(`seeded:${seed}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', digest.subarray(0, 16), digest.subarray(16, 32));
  }

  next(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }
}

export function seededBytes(seed: string | number, n: number): Buffer {
  return new SeededBytes(seed).next(n);
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---- leaks -------------------------------------------------------------------------------------

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Active libuv resources by type (TCPSocketWrap, TLSWrap, Timeout, …). */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

export interface ResourceLevel {
  fds: number;
  resources: Record<string, number>;
}

export function resourceLevel(): ResourceLevel {
  return { fds: openFds(), resources: activeResources() };
}

/**
 * Waits until open fds are back within `fdSlack` of `baseline` and no more sockets are active than
 * then (timers may differ by `timerSlack`); fails naming what is still open.
 */
export async function backToBaseline(baseline: ResourceLevel, ms: number, { fdSlack = 4, timerSlack = 4 } = {}): Promise<ResourceLevel> {
  const sockets = (r: Record<string, number>) => (r.TCPSocketWrap ?? 0) + (r.TLSWrap ?? 0);
  const ok = (now: ResourceLevel) =>
    now.fds <= baseline.fds + fdSlack &&
    sockets(now.resources) <= sockets(baseline.resources) &&
    (now.resources.Timeout ?? 0) <= (baseline.resources.Timeout ?? 0) + timerSlack;
  const end = Date.now() + ms;
  let now = resourceLevel();
  while (!ok(now)) {
    if (Date.now() > end) {
      assert.fail(`not back to baseline after ${ms} ms: ${now.fds} fds (baseline ${baseline.fds}), resources ${JSON.stringify(now.resources)} (baseline ${JSON.stringify(baseline.resources)})`);
    }
    await sleep(50);
    now = resourceLevel();
  }
  return now;
}

/** Soft and hard RLIMIT_NOFILE of this process. */
export function fileLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').trim().split(/\s+/).slice(3, 5).map((v) => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v)));
  return { soft, hard };
}

/**
 * Makes sure this process may open `needed` files. Node already raises the soft limit to the hard
 * one at startup; when even the hard limit is too low, `prlimit` (util-linux, on every Debian)
 * raises both for this process, which works as root (the CI script). Otherwise it fails saying
 * what to run.
 */
export function ensureFileLimit(needed: number): { soft: number; hard: number } {
  let limit = fileLimit();
  if (limit.soft >= needed) return limit;
  const target = Math.max(needed, limit.hard);
  spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${target}`], { stdio: 'ignore', timeout: 5000 });
  limit = fileLimit();
  if (limit.soft < needed) {
    throw new Error(
      `this test opens about ${needed} files at once but may open only ${limit.soft} (hard limit ${limit.hard}), ` +
        `and prlimit could not raise it (not root?). Run \`ulimit -n ${needed}\` in the shell first, or run as root.`,
    );
  }
  return limit;
}

// ---- the scripted backend ---------------------------------------------------------------------

/**
 * What the next TCP connection meets before TLS: `silent` reads and never answers, `reset` resets
 * at once, `close` closes at once. Consumed one per accepted connection; when none is queued the
 * connection goes on to TLS.
 */
export type Fate = 'silent' | 'reset' | 'close';

export interface SeenClient {
  cn: string;
  serial: string;
  fingerprint256: string;
}

export interface ScriptedBackend extends MtlsServer {
  fates: Fate[];
  /** Client certificates of TLS sessions, in order. */
  seen: SeenClient[];
  /** What each `halfclose` connection received after the backend ended its side, by id. */
  afterEnd: Map<string, { bytes: number; sha256: string }>;
}

export interface ScriptedBackendOptions {
  port?: number;
  /** Answer a PostgreSQL SSLRequest with `S` before TLS (what a `postgres` tunnel sends first). */
  postgres?: boolean;
  identity?: ThrowawayPki['server'];
  clientCa?: string;
  /**
   * Gives up on a TLS handshake after this long (default 5000 ms). A client that rejects our
   * certificate may close before its last flight, which a TLS server allowing half-open
   * connections would otherwise wait for forever.
   */
  handshakeTimeoutMs?: number;
  /** Keep `seen` (default true); a long run turns it off, or the list itself would grow. */
  recordClients?: boolean;
  /** Handles a TLS session instead of the command line (the fake PostgreSQL). */
  handler?: (c: MtlsConnection) => void;
}

/**
 * A real mTLS backend on 127.0.0.1: the test mTLS server (../support/mtlsServer), whose raw TCP sockets take the
 * fates and the PostgreSQL preamble, with a handshake that fails or stalls given up after 5 s, so
 * the suite can count what the backend still holds. Inside TLS the client's first line says what
 * the connection does:
 * - `echo`: echoes everything, ends when the client ends;
 * - `sink`: hashes everything, answers `<bytes> <sha256>\n` when the client ends;
 * - `stream <seed>`: sends seeded bytes without end until the connection goes away;
 * - `stall`: reads and never answers; closes when the client goes away;
 * - `halfclose <bytes> <id>`: sends that many seeded bytes (seed = id), ends its side, and records
 *   what still arrives until the client ends (`afterEnd`);
 * - `whoami`: answers `<serial> <sha256 fingerprint>\n` of the client certificate, then echoes.
 */
export async function startScriptedBackend(t: TestContext | undefined, pki: ThrowawayPki, options: ScriptedBackendOptions = {}): Promise<ScriptedBackend> {
  const fates: Fate[] = [];
  const seen: SeenClient[] = [];
  const afterEnd = new Map<string, { bytes: number; sha256: string }>();
  const backend = await startMtlsServer(pki, {
    port: options.port,
    identity: options.identity,
    clientCa: options.clientCa,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5000,
    recordClients: options.recordClients,
    preamble: async (raw) => {
      const fate = fates.shift();
      if (fate === 'reset') raw.resetAndDestroy();
      if (fate === 'close') raw.destroy();
      if (fate === 'silent') {
        // Reads the ClientHello (or SSLRequest) and never answers; closes when the client does.
        raw.once('end', () => raw.destroy());
        raw.resume();
      }
      if (fate) return false;
      if (options.postgres) {
        raw.pause();
        const head = await readBytes(raw, 8, 5000).catch(() => undefined);
        if (!head?.equals(SSL_REQUEST)) {
          raw.destroy();
          return false;
        }
        raw.write('S');
      }
      return true;
    },
    handler: (_s, c) => {
      if (options.recordClients !== false) {
        const peer = c.tls.getPeerCertificate();
        seen.push({ cn: c.client, serial: peer.serialNumber, fingerprint256: peer.fingerprint256 });
      }
      if (options.handler) options.handler(c);
      else runCommand(c, afterEnd);
    },
  }, t);
  return Object.assign(backend, { fates, seen, afterEnd });
}

function runCommand(c: MtlsConnection, afterEnd: ScriptedBackend['afterEnd']): void {
  const s = c.tls;
  let head = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) {
      if (head.length > 1024) s.destroy();
      return;
    }
    s.off('data', onData);
    s.off('end', endedFirst);
    s.pause();
    const [command, ...args] = head.subarray(0, nl).toString().split(' ');
    const rest = head.subarray(nl + 1);
    switch (command) {
      case 'echo':
        if (rest.length > 0) s.write(rest);
        s.pipe(s);
        return;
      case 'whoami': {
        const peer = s.getPeerCertificate();
        s.write(`${peer.serialNumber} ${peer.fingerprint256}\n`);
        if (rest.length > 0) s.write(rest);
        s.pipe(s);
        return;
      }
      case 'sink': {
        const hash = createHash('sha256').update(rest);
        let bytes = rest.length;
        s.on('data', (d: Buffer) => {
          bytes += d.length;
          hash.update(d);
        });
        s.once('end', () => s.end(`${bytes} ${hash.digest('hex')}\n`));
        s.resume();
        return;
      }
      case 'stream': {
        const source = new SeededBytes(args[0] ?? 'stream');
        s.resume();
        const pump = () => {
          while (!s.destroyed && s.writable && s.write(source.next(16 * 1024)));
          if (!s.destroyed && s.writable) s.once('drain', pump);
        };
        pump();
        return;
      }
      case 'stall':
        s.once('end', () => s.destroy());
        s.resume();
        return;
      case 'halfclose': {
        const [bytes, id] = [Number(args[0]), args[1]];
        const hash = createHash('sha256').update(rest);
        let received = rest.length;
        s.on('data', (d: Buffer) => {
          received += d.length;
          hash.update(d);
        });
        s.once('end', () => afterEnd.set(id, { bytes: received, sha256: hash.digest('hex') }));
        s.resume();
        void writeAll(s, seededBytes(id, bytes)).catch(() => undefined);
        return;
      }
      default:
        s.destroy();
    }
  };
  // A client that ends before saying what it wants gets an end back, as from any server.
  const endedFirst = () => s.end();
  s.on('data', onData);
  s.once('end', endedFirst);
}

/** Serial and SHA-256 fingerprint of the first certificate in a PEM file, as Node's TLS reports them. */
export function certificateId(pemFile: string): { serial: string; fingerprint256: string } {
  const x = new X509Certificate(readFileSync(pemFile));
  return { serial: x.serialNumber.toUpperCase(), fingerprint256: x.fingerprint256 };
}

/** Opens a connection through a tunnel to a scripted backend and asks which certificate it saw. */
export async function whoami(t: TestContext, port: number): Promise<{ serial: string; fingerprint256: string }> {
  const c = await connectLocal(t, port);
  c.write('whoami\n');
  const reply = await readLine(c, 5000);
  c.destroy();
  const [serial, fingerprint256] = reply.split(' ');
  return { serial: serial.toUpperCase(), fingerprint256 };
}

/** Reads one `\n`-terminated line. */
export async function readLine(socket: net.Socket, ms: number): Promise<string> {
  let line = '';
  const end = Date.now() + ms;
  for (;;) {
    const b = await readBytes(socket, 1, Math.max(1, end - Date.now()));
    if (b[0] === 10) return line;
    line += b.toString('latin1');
  }
}

// ---- the bystander -----------------------------------------------------------------------------

/**
 * A long-lived connection through a tunnel to a scripted backend in `echo` mode that ping-pongs
 * seeded messages (1 B to 32 KiB) and checks every byte of every echo. Any error, mismatch, or a
 * round trip slower than `stallMs` is kept and thrown by `check()`/`stop()`.
 */
export class Bystander {
  rounds = 0;
  bytes = 0;
  slowestMs = 0;
  error?: Error;
  private running = true;
  private loop?: Promise<void>;

  private readonly gone: Promise<never>;

  private constructor(readonly name: string, readonly socket: net.Socket, private readonly stallMs: number) {
    this.gone = new Promise<never>((_, reject) => {
      socket.once('end', () => reject(new Error('the peer ended the connection')));
      socket.once('close', () => reject(new Error('the connection closed')));
    });
    this.gone.catch(() => undefined);
  }

  static async start(t: TestContext, name: string, port: number, { stallMs = 5000, seed = 1 } = {}): Promise<Bystander> {
    const socket = await connectLocal(t, port);
    socket.write('echo\n');
    const b = new Bystander(name, socket, stallMs);
    b.loop = b.run(seed);
    t.after(() => b.halt());
    await until(() => b.rounds > 0 || b.error !== undefined, 5000, `bystander ${name} to complete a round`);
    b.check();
    return b;
  }

  private async run(seed: number): Promise<void> {
    const random = prng(seed);
    const data = new SeededBytes(`bystander-${this.name}-${seed}`);
    try {
      while (this.running) {
        const message = data.next(1 + Math.floor(random() * 32 * 1024));
        const began = Date.now();
        this.socket.write(message);
        const echoed = await Promise.race([readBytes(this.socket, message.length, this.stallMs), this.gone]);
        if (!echoed.equals(message)) throw new Error(`bystander ${this.name}: round ${this.rounds + 1} echoed different bytes`);
        this.slowestMs = Math.max(this.slowestMs, Date.now() - began);
        this.rounds++;
        this.bytes += message.length;
        await sleep(2);
      }
    } catch (e) {
      this.error = e as Error;
      this.socket.destroy();
    }
  }

  /** Throws what went wrong so far, if anything. */
  check(): void {
    if (this.error) throw new Error(`bystander ${this.name} failed after ${this.rounds} rounds: ${this.error.message}`);
  }

  /** Runs `fault` and asserts this connection made progress, unharmed, while it ran. */
  async through<T>(fault: () => Promise<T>, minRounds = 3): Promise<T> {
    const before = this.rounds;
    const result = await fault();
    await until(() => this.rounds >= before + minRounds || this.error !== undefined, 10_000, `bystander ${this.name} to keep flowing`);
    this.check();
    return result;
  }

  /** Stops the ping-pong, checks it, and closes the connection cleanly. */
  async stop(): Promise<void> {
    await this.halt();
    this.check();
  }

  private async halt(): Promise<void> {
    this.running = false;
    await this.loop;
    this.socket.destroy();
  }
}

/** Starts `count` tasks at once, `wave` at a time; resolves with their results in order. */
export async function inWaves<T>(count: number, wave: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += wave) {
    results.push(...(await Promise.all(Array.from({ length: Math.min(wave, count - start) }, (_, k) => task(start + k)))));
  }
  return results;
}
