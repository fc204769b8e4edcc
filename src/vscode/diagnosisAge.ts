/**
 * When each diagnosis was made, so everything that shows one says how old it is ("3 min ago").
 * The manager hands out the same Diagnosis object it stored, so the object is the key.
 */
import { Diagnosis } from '../core/diagnostics/diagnosis';

const seen = new WeakMap<Diagnosis, number>();

/** Records the first time a diagnosis is seen; returns that time. */
export function stamp(d: Diagnosis, now = Date.now()): number {
  const at = seen.get(d);
  if (at !== undefined) return at;
  seen.set(d, now);
  return now;
}

/** "just now", "42 s ago", "3 min ago", "2 h ago", "on 2026-12-01". */
export function ageOf(d: Diagnosis, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - stamp(d, now)) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `on ${new Date(now - s * 1000).toISOString().slice(0, 10)}`;
}
