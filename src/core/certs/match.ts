/**
 * Does a private key belong to a certificate? The cause of `ERR_OSSL_X509_KEY_VALUES_MISMATCH`,
 * and the first question when a cert and key arrive as two separate files.
 */
import { KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import { splitPem } from './pem';

/** Index of the certificate `key` belongs to, or -1. */
export function certificateMatchingKey(certs: readonly X509Certificate[], key: KeyObject): number {
  return certs.findIndex((cert) => {
    try {
      return cert.checkPrivateKey(key);
    } catch {
      return false; // Different algorithms: certainly no match.
    }
  });
}

/**
 * Whether the private key in `keyPem` belongs to the first certificate in `certPem` (the leaf of
 * a chain). Throws when either cannot be parsed, or the key is encrypted and the passphrase is
 * missing or wrong.
 */
export function keyMatchesCertificate(certPem: string, keyPem: string, passphrase?: string): boolean {
  const first = splitPem(certPem).find((b) => b.label === 'CERTIFICATE');
  if (!first) throw new Error('no certificate in the PEM text');
  const cert = new X509Certificate(first.pem);
  const key = createPrivateKey({ key: keyPem, format: 'pem', passphrase });
  return certificateMatchingKey([cert], key) === 0;
}
