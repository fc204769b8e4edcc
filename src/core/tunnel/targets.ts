/**
 * Which of a tunnel's targets a new connection tries, in what order (`targetPolicy`), and the
 * backoff that keeps a target that just failed out of the way, as stunnel's `failover` and
 * Envoy's outlier detection do. The dial itself is upstream.ts; `dialTargets` walks the order.
 *
 * - failover: the targets in the order given. round-robin: each new connection starts one
 *   further along, so connections are spread over every target.
 * - A target whose dial failed (TCP, protocol preamble or TLS handshake) is put back for 5 s,
 *   doubling with each failure in a row to 60 s; one success clears it. Targets in their window
 *   come after the others, in the same order, instead of being left out: when all of them are in
 *   one, they are all still tried, because refusing the client helps nobody. When a window ends,
 *   one connection at a time tries the target again; until it has an answer, the others treat the
 *   target as still in its window (so a target that hangs costs one connection its timeout, not a
 *   burst of them).
 * - With several targets a refused connection moves on to the next one at once; the retrying of
 *   refusals (a server restarting) is for a tunnel with one target, which has nowhere else to go.
 *   Each target's attempt has the whole `connectTimeoutMs`.
 */
import { TargetEndpoint, TargetPolicy, TunnelConfig, forTarget, formatEndpoint } from '../config/model';
import { Credentials } from '../tls/credentials';
import { DialOptions, Upstream, UpstreamError, dialUpstream } from './upstream';

export interface TargetBackoff {
  /** The first window after a failure (default 5000 ms). */
  firstMs: number;
  /** Where doubling stops (default 60000 ms). */
  maxMs: number;
}

export const DEFAULT_TARGET_BACKOFF: TargetBackoff = { firstMs: 5000, maxMs: 60_000 };

/** One target's standing, for snapshots and logs. */
export interface TargetStanding {
  target: string;
  /** Failures in a row since the last success. */
  failures: number;
  /** Epoch ms until which it is skipped; absent when it is not in a backoff window. */
  backoffUntil?: number;
}

export class TargetSet {
  private readonly failures: number[];
  private readonly until: number[];
  /** Dials under way to each target. */
  private readonly dialling: number[];
  private next = 0;

  constructor(
    readonly targets: readonly TargetEndpoint[],
    readonly policy: TargetPolicy,
    private readonly backoff: TargetBackoff = DEFAULT_TARGET_BACKOFF,
    private readonly clock: () => number = Date.now,
  ) {
    this.failures = targets.map(() => 0);
    this.until = targets.map(() => 0);
    this.dialling = targets.map(() => 0);
  }

  /** What the set was built from: a tunnel keeps its set (and its backoff) while this stays the same. */
  static keyOf(config: Pick<TunnelConfig, 'targets' | 'targetPolicy'>): string {
    return JSON.stringify([config.targetPolicy, config.targets]);
  }

  get key(): string {
    return TargetSet.keyOf({ targets: [...this.targets], targetPolicy: this.policy });
  }

  /** Indexes into `targets` in the order one new connection tries them. */
  order(): number[] {
    const n = this.targets.length;
    const start = this.policy === 'round-robin' ? this.next++ % n : 0;
    const now = this.clock();
    const rotated = Array.from({ length: n }, (_, k) => (start + k) % n);
    // Failed last time and being tried again by another connection: as if still in its window.
    const waiting = (i: number) => this.until[i] > now || (this.failures[i] > 0 && this.dialling[i] > 0);
    return [...rotated.filter((i) => !waiting(i)), ...rotated.filter(waiting)];
  }

  /** A dial to `index` starts; call what it returns when it has its answer. */
  dialStarted(index: number): () => void {
    this.dialling[index] += 1;
    let done = false;
    return () => {
      if (!done) this.dialling[index] -= 1;
      done = true;
    };
  }

  succeeded(index: number): void {
    this.failures[index] = 0;
    this.until[index] = 0;
  }

  /** Puts the target back for its window; returns the window's length in ms. */
  failed(index: number): number {
    this.failures[index] += 1;
    const ms = Math.min(this.backoff.firstMs * 2 ** (this.failures[index] - 1), this.backoff.maxMs);
    this.until[index] = this.clock() + ms;
    return ms;
  }

  standings(): TargetStanding[] {
    const now = this.clock();
    return this.targets.map((t, i) => ({ target: formatEndpoint(t), failures: this.failures[i], ...(this.until[i] > now ? { backoffUntil: this.until[i] } : {}) }));
  }
}

/** One target that was tried and failed. */
export interface FailedAttempt {
  index: number;
  target: string;
  error: UpstreamError;
}

/**
 * No target completed the connection: every one was tried, or the last one tried failed in a way
 * no other can take over from (`canFailOver`). `attempts` in the order tried.
 */
export class TargetsFailed extends Error {
  constructor(readonly attempts: FailedAttempt[], readonly untried: string[] = []) {
    super(`${attempts.length} target(s) failed: ${attempts.map((a) => `${a.target}: ${a.error.message}`).join('; ')}`);
  }
}

export interface TargetDialHooks {
  /** The dial options for one target's attempt (its session, its callbacks). */
  options(index: number): DialOptions;
  /** A target failed and the next is tried; `backoffMs`: how long the failed one is put back. */
  onFailover?(failed: FailedAttempt, backoffMs: number, next: number): void;
  /**
   * False when a failure leaves nothing to fail over with: the protocol's preamble already spoke
   * to the local client (MySQL relays the server's greeting), so a second server cannot take over.
   */
  canFailOver?(error: UpstreamError): boolean;
}

/**
 * Dials the set's targets in its order until one completes TCP, preamble and TLS. One target:
 * `dialUpstream` as it is, its UpstreamError as it is. Several: TargetsFailed when none does,
 * or the UpstreamError of an abort.
 */
export async function dialTargets(set: TargetSet, config: TunnelConfig, credentials: Credentials, hooks: TargetDialHooks): Promise<{ upstream: Upstream; index: number }> {
  if (set.targets.length <= 1) {
    const upstream = await dialUpstream(config, credentials, hooks.options(0));
    set.succeeded(0);
    return { upstream, index: 0 };
  }
  const order = set.order();
  const attempts: FailedAttempt[] = [];
  for (const [k, index] of order.entries()) {
    const options = hooks.options(index);
    const finished = set.dialStarted(index);
    try {
      const upstream = await dialUpstream(forTarget(config, index), credentials, { ...options, retryRefused: false });
      finished();
      set.succeeded(index);
      return { upstream, index };
    } catch (e) {
      finished();
      const error = e instanceof UpstreamError ? e : new UpstreamError(e as NodeJS.ErrnoException, 'connect');
      if (options.signal?.aborted) throw error;
      const failed = { index, target: formatEndpoint(set.targets[index]), error };
      attempts.push(failed);
      const backoffMs = set.failed(index);
      if (hooks.canFailOver && !hooks.canFailOver(error)) throw new TargetsFailed(attempts, order.slice(k + 1).map((i) => formatEndpoint(set.targets[i])));
      if (k + 1 < order.length) hooks.onFailover?.(failed, backoffMs, order[k + 1]);
    }
  }
  throw new TargetsFailed(attempts);
}
