/**
 * A certificate as plain data: what a person checks when a handshake fails, with stable field
 * names because `inspect --json` prints exactly this.
 */
import { X509Certificate } from 'node:crypto';
import { issuedBy } from './chain';
import { commonNameOf, oneLineName, splitSubjectAltNames } from './names';
import { KeyAlgorithm, describeKey, spkiSha256 } from './publicKey';
import { signatureAlgorithmOf } from './signatureAlgorithm';
import { ValidityStatus, validityOf } from './validity';

export type CertificateRole = 'leaf' | 'intermediate' | 'root';

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

/** Self-signed means the signature checks out with its own key, not merely subject == issuer. */
export function isSelfSigned(cert: X509Certificate): boolean {
  return issuedBy(cert, cert);
}

export function summarizeCertificate(cert: X509Certificate, now: Date = new Date()): CertificateSummary {
  const validity = validityOf(cert, now);
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
    validFrom: validity.validFrom.toISOString(),
    validTo: validity.validTo.toISOString(),
    daysLeft: validity.daysLeft,
    status: validity.status,
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
