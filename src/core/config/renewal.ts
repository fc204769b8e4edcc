/**
 * The renewal fields of a tunnel: `identityCommand` (a shell command line, kept as written: the
 * shell expands `$MTLS_CERT_FILE` and friends, so `${…}` is not substituted here) and
 * `renewBefore` (`"20m"`, `"1h30m"`, `"2d"`, or `"33%"` of the certificate's lifetime).
 */
import { RenewBefore } from './model';

/** A third of the lifetime, as the issue and step-ca's own renewer default to. */
export const DEFAULT_RENEW_FRACTION = 1 / 3;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `"20m"` → 20 minutes, `"33%"` → a third; a message when it is neither. */
export function parseRenewBefore(value: unknown): RenewBefore | string {
  const usage = 'must be a duration like "20m", "1h30m", "2d" (units s, m, h, d) or a percentage of the certificate\'s lifetime like "33%"';
  if (typeof value !== 'string') return `${usage}, not ${typeof value === 'number' ? `the number ${value}` : typeof value}`;
  const text = value.trim();
  const percent = /^(\d{1,2}(?:\.\d+)?)%$/.exec(text);
  if (percent) {
    const n = Number(percent[1]);
    if (n <= 0) return 'a percentage must be more than 0% (the renewal would start only once the certificate has expired)';
    return { fraction: n / 100, text };
  }
  if (/^\d+(\.\d+)?%$/.test(text)) return 'a percentage must be below 100% (at 100% the certificate would be renewed the moment it is issued)';
  if (!/^(\d+[smhd])+$/.test(text)) return `${usage}, not ${JSON.stringify(value)}`;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)([smhd])/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
  if (ms === 0) return 'must be longer than 0';
  return { ms, text };
}

/** How long before `notAfter` the renewal window opens, for a certificate valid from `notBefore`. */
export function renewalLead(renewBefore: RenewBefore | undefined, notBefore: number, notAfter: number): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  if (renewBefore && 'ms' in renewBefore) return renewBefore.ms;
  return lifetime * (renewBefore?.fraction ?? DEFAULT_RENEW_FRACTION);
}

/** `identityCommand`: a non-empty command line; a message when it is not. */
export function checkIdentityCommand(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return `must be a command line (a non-empty string run by your shell), not ${value === '' ? 'an empty string' : typeof value}`;
  if (/[\0]/.test(value)) return 'must not contain a NUL character';
  return undefined;
}
