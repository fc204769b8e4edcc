/**
 * Notices the wall clock jumping: a laptop that slept, a clock set by hand or by NTP. Timers run
 * on the monotonic clock, which on most systems does not advance while suspended, so a renewal
 * timer set for "in 20 minutes" fires 20 minutes after waking, with a certificate that expired
 * during the night. Every few seconds the wall clock's progress is compared with the monotonic
 * clock's; when they differ by more than the threshold, every listener is told at once.
 */
import { performance } from 'node:perf_hooks';

export interface ClockJumpOptions {
  intervalMs?: number;
  thresholdMs?: number;
  wall?: () => number;
  monotonic?: () => number;
}

export class ClockJumpWatcher {
  private lastWall: number;
  private lastMono: number;
  private readonly timer?: NodeJS.Timeout;
  private readonly wall: () => number;
  private readonly monotonic: () => number;
  private readonly thresholdMs: number;

  /** `intervalMs` 0: no timer; the owner calls tick() (tests). */
  constructor(private readonly onJump: (jumpMs: number) => void, options: ClockJumpOptions = {}) {
    this.wall = options.wall ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.thresholdMs = options.thresholdMs ?? 30_000;
    this.lastWall = this.wall();
    this.lastMono = this.monotonic();
    const intervalMs = options.intervalMs ?? 5000;
    if (intervalMs > 0) {
      this.timer = setInterval(() => this.tick(), intervalMs);
      this.timer.unref();
    }
  }

  /** Compares both clocks since the last tick; calls onJump with the wall clock's lead (negative: it went back). */
  tick(): void {
    const wall = this.wall();
    const mono = this.monotonic();
    const jump = wall - this.lastWall - (mono - this.lastMono);
    this.lastWall = wall;
    this.lastMono = mono;
    if (Math.abs(jump) > this.thresholdMs) this.onJump(jump);
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}

/** One watcher for the whole process, running while anybody listens. */
const listeners = new Set<(jumpMs: number) => void>();
let shared: ClockJumpWatcher | undefined;

export function onClockJump(listener: (jumpMs: number) => void): () => void {
  listeners.add(listener);
  shared ??= new ClockJumpWatcher((jump) => {
    for (const l of [...listeners]) l(jump);
  });
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) {
      shared?.dispose();
      shared = undefined;
    }
  };
}
