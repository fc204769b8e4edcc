/**
 * A certificate as plain data: what a person checks when a handshake fails, with stable field
 * names because `inspect --json` prints exactly this.
 */
import { X509Certificate } from 'node:crypto';
import { commonNameOf, oneLineName, splitSubjectAltNames } from './names';
import { KeyAlgorithm, describeKey, spkiSha256 } from './publicKey';
import { signatureAlgorithmOf } from './signatureAlgorithm';

export type ValidityStatus = 'valid' | 'expires soon' | 'expired' | 'not yet valid';
export type CertificateRole = 'leaf' | 'intermediate' | 'root';

/** A certificate this close to its end is flagged, early enough to get a new one. */
export const EXPIRES_SOON_DAYS = 14;

const DAY_MS = 86_400_000;

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

export interface CertificateSummary {
  subject: string;
  commonName: string | null;
  issuer: string;
  subjectAltNames: string[];
  /** Hex, as Node and OpenSSL print it. */
  serialNumber: string;
  /** ISO 8601. */
  validFrom: string;
  validTo: string;
  /** Whole days until `validTo`; negative once expired (at least -1 the moment it expires). */
  daysLeft: number;
  status: ValidityStatus;
  publicKey: KeyAlgorithm;
  signatureAlgorithm: string | null;
  /** Colon-separated uppercase hex, like `openssl x509 -fingerprint -sha256`. */
  sha256Fingerprint: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo: the `verify.spkiSha256` value. */
  spkiSha256: string;
  /** Names (or OIDs) from the EKU extension; null when there is none, which permits any use. */
  extendedKeyUsage: string[] | null;
  clientAuth: boolean;
  serverAuth: boolean;
  ca: boolean;
  selfSigned: boolean;
  role: CertificateRole;
}

function daysLeft(validTo: Date, now: Date): number {
  const ms = validTo.getTime() - now.getTime();
  // Floor towards "less time than you think": 23 hours left is 0 days, 1 hour past is -1.
  return ms >= 0 ? Math.floor(ms / DAY_MS) : -Math.max(1, Math.floor(-ms / DAY_MS));
}

function statusOf(validFrom: Date, validTo: Date, now: Date, left: number): ValidityStatus {
  if (now < validFrom) return 'not yet valid';
  if (now > validTo) return 'expired';
  return left <= EXPIRES_SOON_DAYS ? 'expires soon' : 'valid';
}

/** Self-signed means the signature checks out with its own key, not merely subject == issuer. */
export function isSelfSigned(cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(cert) && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

export function summarizeCertificate(cert: X509Certificate, now: Date = new Date()): CertificateSummary {
  const validFrom = new Date(cert.validFrom);
  const validTo = new Date(cert.validTo);
  const left = daysLeft(validTo, now);
  const oids = cert.keyUsage as string[] | undefined; // Node names the EKU OID list `keyUsage`.
  const eku = oids ? oids.map((oid) => EKU_NAMES[oid] ?? oid) : null;
  const permits = (purpose: string) => eku === null || eku.includes(purpose) || eku.includes('anyExtendedKeyUsage');
  const selfSigned = isSelfSigned(cert);
  return {
    subject: oneLineName(cert.subject),
    commonName: commonNameOf(cert.subject),
    issuer: oneLineName(cert.issuer),
    subjectAltNames: splitSubjectAltNames(cert.subjectAltName),
    serialNumber: cert.serialNumber,
    validFrom: validFrom.toISOString(),
    validTo: validTo.toISOString(),
    daysLeft: left,
    status: statusOf(validFrom, validTo, now, left),
    publicKey: describeKey(cert.publicKey),
    signatureAlgorithm: signatureAlgorithmOf(cert.raw),
    sha256Fingerprint: cert.fingerprint256,
    spkiSha256: spkiSha256(cert.publicKey),
    extendedKeyUsage: eku,
    clientAuth: permits('clientAuth'),
    serverAuth: permits('serverAuth'),
    ca: cert.ca,
    selfSigned,
    role: !cert.ca ? 'leaf' : selfSigned ? 'root' : 'intermediate',
  };
}
