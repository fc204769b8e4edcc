/**
 * The signature algorithm of a certificate. Node's X509Certificate does not expose it, so this
 * reads the one field it needs straight from the DER: Certificate ::= SEQUENCE { tbsCertificate,
 * signatureAlgorithm AlgorithmIdentifier, signature } — a few bytes, no parser dependency.
 */
import { derElement, OID, SEQUENCE } from './der';

/** OpenSSL's names, so the output matches `openssl x509 -text`. */
const NAMES: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
};

function decodeOid(bytes: Uint8Array): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

/** The algorithm name (or its OID when unknown), or null when the DER is not a certificate. */
export function signatureAlgorithmOf(certificateDer: Uint8Array): string | null {
  try {
    const certificate = derElement(certificateDer, 0);
    if (certificate.tag !== SEQUENCE) return null;
    const tbs = derElement(certificateDer, certificate.content);
    const algorithm = derElement(certificateDer, tbs.end);
    if (algorithm.tag !== SEQUENCE) return null;
    const oid = derElement(certificateDer, algorithm.content);
    if (oid.tag !== OID) return null;
    const dotted = decodeOid(certificateDer.subarray(oid.content, oid.end));
    return NAMES[dotted] ?? dotted;
  } catch {
    return null;
  }
}
