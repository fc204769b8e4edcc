/**
 * A certificate's dates, read one way everywhere: days left, expired, not yet valid, expires
 * soon. The tunnel, the doctor, the diagnoses, `inspect` and the editor's tree all ask here, so
 * "14 days" and "how many days is 23 hours" have one answer.
 */

/** A certificate this close to its end is flagged, early enough to get a new one. */
export const EXPIRES_SOON_DAYS = 14;

export const DAY_MS = 86_400_000;

export type ValidityStatus = 'valid' | 'expires soon' | 'expired' | 'not yet valid';

export interface Validity {
  validFrom: Date;
  validTo: Date;
  /** Whole days until `validTo`; negative once expired (at least -1 the moment it expires). */
  daysLeft: number;
  status: ValidityStatus;
}

/** Node's X509Certificate (`validFrom`/`validTo`) and its peer certificates (`valid_from`/`valid_to`) both fit. */
export type CertificateDates = { validFrom: string; validTo: string } | { valid_from: string; valid_to: string };

export function daysLeft(validTo: Date, now: Date = new Date()): number {
  const ms = validTo.getTime() - now.getTime();
  // Floor towards "less time than you think": 23 hours left is 0 days, 1 hour past is -1.
  return ms >= 0 ? Math.floor(ms / DAY_MS) : -Math.max(1, Math.floor(-ms / DAY_MS));
}

export function validityOf(cert: CertificateDates, now: Date = new Date()): Validity {
  const [from, to] = 'validFrom' in cert ? [cert.validFrom, cert.validTo] : [cert.valid_from, cert.valid_to];
  const validFrom = new Date(from);
  const validTo = new Date(to);
  const left = daysLeft(validTo, now);
  const status: ValidityStatus = now < validFrom ? 'not yet valid' : now > validTo ? 'expired' : left <= EXPIRES_SOON_DAYS ? 'expires soon' : 'valid';
  return { validFrom, validTo, daysLeft: left, status };
}

/** Whole days until a later date, rounded up: "not valid until tomorrow noon" is in 1 day. */
export function daysUntil(date: Date | string, now: Date = new Date()): number {
  return Math.ceil((new Date(date).getTime() - now.getTime()) / DAY_MS);
}

/** `2026-03-01`: the day, as every sentence about a certificate's dates prints it. */
export function isoDay(date: Date | string): string {
  return new Date(date).toISOString().slice(0, 10);
}

/** `1 day`, `5 days`. */
export function dayCount(n: number): string {
  return `${n} day${n === 1 ? '' : 's'}`;
}
