/**
 * Warm upstream connections (`warmConnections`): up to N upstream connections dialled and
 * handshaken before any client asks, so a new local connection skips the TCP connect, the
 * protocol preamble and the TLS handshake. Opt-in, because each one is a connection the server
 * holds for nobody, and not for MySQL (refused by the config parser: its server speaks first).
 *
 * - A pool belongs to one dial: the settings and credentials it dials with (`keyOf`). The tunnel
 *   empties it (`close`) when that changes, on a credential reload and on stop, so a connection
 *   made with a previous certificate, target or verification is never handed out.
 * - Each warm connection lives at most `warmMaxAgeMs`: then it is closed (close_notify, FIN) and
 *   replaced. `take()` checks the age again itself, so a late timer cannot hand out an old one.
 * - While it waits, a warm connection is read: a server that ends it, resets it, or refuses our
 *   certificate after the handshake (TLS 1.3) makes it lost, and a lost one is never handed out.
 *   What a server says unasked (a greeting) is held and put back for the client, up to 16 KiB.
 * - Lost connections and failed dials back off the refill (1 s doubling to 60 s) so a server that
 *   drops idle connections is not dialled in a loop; the log says so once per pool.
 * - Warm dials resume and keep TLS sessions in the tunnel's session pool as client dials do.
 * - A taken connection is replaced once it has its first answer from the server, so the new
 *   handshake does not compete with the exchange it serves.
 */
import { createHash } from 'node:crypto';
import { Logger } from '../log';
import { ConnectionHost, LiveSettings } from './connection';
import { dialTargets } from './targets';
import { Upstream } from './upstream';

/** A warm connection as handed out: the upstream and which of the tunnel's targets it reached. */
export interface WarmUpstream {
  upstream: Upstream;
  index: number;
}

export interface WarmBackoff {
  /** The wait before dialling again after the first lost connection or failed dial (default 1000 ms). */
  firstMs: number;
  /** Where doubling stops (default 60000 ms). */
  maxMs: number;
}

export interface WarmPoolOptions {
  backoff?: WarmBackoff;
  /** Ages are measured with it (tests move it on); default Date.now. */
  clock?: () => number;
  /** False while no dial should be made (the client certificate has expired). */
  canDial?: () => boolean;
  /** How long a refill waits at most for the taken connection's first answer (default 50 ms). */
  refillWaitMs?: number;
}

/** For snapshots and tests: how many wait now, and what became of the others. */
export interface WarmCounts {
  ready: number;
  /** Handed to a local client. */
  taken: number;
  /** Closed by us at `warmMaxAgeMs`, or when the pool was emptied. */
  retired: number;
  /** Ended, reset or refused by the server while waiting (never handed out). */
  lost: number;
}

const DEFAULT_BACKOFF: WarmBackoff = { firstMs: 1000, maxMs: 60_000 };
/** Unasked bytes a warm connection may hold for its client; a server that says more is not waiting for one. */
const HELD_MAX = 16 * 1024;
/** How long a refill waits at most for the taken connection's first answer (see refillAfterFirstAnswer). */
const REFILL_WAIT_MS = 50;

type Host = Pick<ConnectionHost, 'logger' | 'takeSession' | 'keepSession'>;

interface Warm {
  dead: boolean;
  upstream?: Upstream;
  index: number;
  madeAt: number;
  timer?: NodeJS.Timeout;
  held: Buffer[];
  heldBytes: number;
  onError: (e: NodeJS.ErrnoException) => void;
  onData?: (d: Buffer) => void;
  onEnd?: () => void;
}

export class WarmPool {
  readonly key: string;
  private readonly ready: Warm[] = [];
  private dialling = 0;
  private closed = false;
  private failures = 0;
  private retryTimer?: NodeJS.Timeout;
  private readonly said = new Set<'lost' | 'failed'>();
  /**
   * One per dial under way, aborted by close(): a signal shared by every dial would keep each
   * dial's listener (and through it its sockets) for the pool's whole life.
   */
  private readonly dials = new Set<AbortController>();
  private readonly tally = { taken: 0, retired: 0, lost: 0 };
  private readonly clock: () => number;
  private readonly logger: Logger;

  constructor(private live: LiveSettings, private readonly host: Host, private readonly options: WarmPoolOptions = {}) {
    this.key = WarmPool.keyOf(live);
    this.clock = options.clock ?? Date.now;
    this.logger = host.logger;
    this.fill();
  }

  /** What a warm connection is made with: the same key, the same connection (hashed: a proxy's credentials are in it). */
  static keyOf(live: LiveSettings): string {
    const c = live.config;
    const dial = [live.credentials.digest, c.targets, c.targetPolicy, c.protocol, c.serverName, c.verify, c.alpn, c.minTlsVersion, c.connectTimeoutMs, c.proxy ?? null, c.warmConnections, c.warmMaxAgeMs];
    return createHash('sha256').update(JSON.stringify(dial)).digest('hex');
  }

  /** Settings with the same key (only something else changed): sessions from now on belong to them. */
  adopt(live: LiveSettings): void {
    this.live = live;
  }

  /** The newest warm connection that is still good (the least likely to have been dropped), or undefined. */
  take(): WarmUpstream | undefined {
    const now = this.clock();
    let found: Warm | undefined;
    while (!found && this.ready.length > 0) {
      const w = this.ready.pop()!;
      const s = w.upstream!.socket;
      if (now - w.madeAt >= this.live.config.warmMaxAgeMs) this.retire(w);
      else if (s.destroyed || !s.readable || !s.writable || s.readableEnded) this.lose(w, 'closed');
      else found = w;
    }
    if (found) {
      this.detach(found);
      this.tally.taken++;
      this.failures = 0;
      const s = found.upstream!.socket;
      s.pause();
      if (found.heldBytes > 0) s.unshift(Buffer.concat(found.held));
      found.upstream!.handshake.warm = true;
      this.refillAfterFirstAnswer(s);
    } else this.fill();
    return found && { upstream: found.upstream!, index: found.index };
  }

  /** Closes every warm connection and dials no more (stop, or a dial that changed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.dials) d.abort();
    clearTimeout(this.retryTimer);
    for (const w of this.ready.splice(0)) this.retire(w, false);
  }

  counts(): WarmCounts {
    return { ready: this.ready.length, ...this.tally };
  }

  /**
   * The replacement's handshake would share the event loop (and the server) with the exchange
   * the taken connection has just begun, so it waits for that connection's first bytes from the
   * server, its close, or REFILL_WAIT_MS for a server that answers nothing first.
   */
  private refillAfterFirstAnswer(s: Upstream['socket']): void {
    let done = false;
    const refill = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.off('data', refill);
      s.off('close', refill);
      this.fill();
    };
    // The socket is paused: a 'data' listener reads nothing until the connection relays.
    s.once('data', refill);
    s.once('close', refill);
    const timer = setTimeout(refill, this.options.refillWaitMs ?? REFILL_WAIT_MS);
    timer.unref();
  }

  private fill(): void {
    if (this.closed || this.retryTimer || this.options.canDial?.() === false) return;
    while (this.ready.length + this.dialling < this.live.config.warmConnections) this.dial();
  }

  private dial(): void {
    const live = this.live;
    const w: Warm = { dead: false, index: 0, madeAt: 0, held: [], heldBytes: 0, onError: (e) => this.lose(w, `broken (${e.code ?? e.message})`) };
    const abort = new AbortController();
    this.dials.add(abort);
    this.dialling++;
    dialTargets(live.targets, live.config, live.credentials, {
      options: (index) => ({
        session: this.host.takeSession(index),
        onSession: (s) => this.host.keepSession(s, this.live, index),
        signal: abort.signal,
        // Attached by the dial itself before it resolves: an error in between is not unhandled.
        onError: w.onError,
      }),
    }).then(({ upstream, index }) => {
      this.dialling--;
      this.dials.delete(abort);
      w.upstream = upstream;
      if (this.closed || w.dead) return void upstream.socket.destroy();
      this.keep(w, index);
    }, (e: Error & { code?: string }) => {
      this.dialling--;
      this.dials.delete(abort);
      if (this.closed) return;
      this.failures++;
      if (!this.said.has('failed')) {
        this.said.add('failed');
        this.logger.info(`a warm connection could not be made (${e.code ?? e.message}); new connections dial as usual, and warm ones are tried again in ${this.backoffMs()} ms`);
      }
      this.later();
    });
  }

  private keep(w: Warm, index: number): void {
    const s = w.upstream!.socket;
    w.index = index;
    w.madeAt = this.clock();
    w.onData = (d) => {
      w.held.push(d);
      w.heldBytes += d.length;
      if (w.heldBytes > HELD_MAX) this.lose(w, `sent more than ${HELD_MAX} bytes unasked`);
    };
    w.onEnd = () => this.lose(w, 'ended by the server');
    // Reading is what notices the server's end (or a TLS 1.3 refusal of our certificate).
    s.on('data', w.onData);
    s.once('end', w.onEnd);
    s.once('close', w.onEnd);
    w.timer = setTimeout(() => {
      const i = this.ready.indexOf(w);
      if (i >= 0) this.ready.splice(i, 1);
      this.retire(w);
    }, this.live.config.warmMaxAgeMs);
    w.timer.unref();
    this.ready.push(w);
  }

  private detach(w: Warm): void {
    clearTimeout(w.timer);
    const s = w.upstream?.socket;
    if (!s) return;
    s.off('error', w.onError);
    if (w.onData) s.off('data', w.onData);
    if (w.onEnd) {
      s.off('end', w.onEnd);
      s.off('close', w.onEnd);
    }
  }

  /** Lived to its age (or the pool is closing): closed politely, and replaced unless closing. */
  private retire(w: Warm, replace = true): void {
    this.detach(w);
    w.dead = true;
    const s = w.upstream!.socket;
    s.on('error', () => undefined);
    s.end(() => s.destroy());
    this.tally.retired++;
    if (!replace) return;
    // The server kept it this long: idle connections are tolerated.
    this.failures = 0;
    this.fill();
  }

  /** The server ended or broke it while it waited: never handed out, and the refill backs off. */
  private lose(w: Warm, why: string): void {
    if (w.dead) return;
    w.dead = true;
    const i = this.ready.indexOf(w);
    if (i >= 0) this.ready.splice(i, 1);
    this.detach(w);
    w.upstream?.socket.destroy();
    if (this.closed) return;
    this.tally.lost++;
    this.failures++;
    if (!this.said.has('lost')) {
      this.said.add('lost');
      const age = w.upstream ? `after ${this.clock() - w.madeAt} ms ` : '';
      this.logger.warn(`a warm connection was ${why} ${age}while it waited (warmMaxAgeMs ${this.live.config.warmMaxAgeMs}): the server may drop idle connections sooner (or refuse them: the next dialled connection would say why); lower warmMaxAgeMs or turn warmConnections off. New connections dial as usual; warm ones are tried again in ${this.backoffMs()} ms, backing off`);
    }
    this.later();
  }

  private backoffMs(): number {
    const b = this.options.backoff ?? DEFAULT_BACKOFF;
    return Math.min(b.firstMs * 2 ** Math.max(0, this.failures - 1), b.maxMs);
  }

  private later(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, this.backoffMs());
    this.retryTimer.unref();
  }
}
