/**
 * Loads private keys from PEM blocks or bare DER into Node KeyObjects. An encrypted key without a
 * passphrase is still reported (as encrypted, algorithm unknown) rather than failing the file:
 * "this is your key, and it is encrypted" is itself the answer the user came for.
 */
import { KeyObject, createPrivateKey } from 'node:crypto';
import { CertificateFileError } from './errors';
import { PemBlock, splitPem } from './pem';

export type PrivateKeyFormat = 'PKCS#8' | 'PKCS#1' | 'SEC1' | 'PKCS#12';

export interface LoadedPrivateKey {
  format: PrivateKeyFormat;
  encrypted: boolean;
  /** Null only when the key is encrypted and no passphrase was given. */
  key: KeyObject | null;
}

const PEM_FORMATS: Record<string, PrivateKeyFormat> = {
  'PRIVATE KEY': 'PKCS#8',
  'ENCRYPTED PRIVATE KEY': 'PKCS#8',
  'RSA PRIVATE KEY': 'PKCS#1',
  'EC PRIVATE KEY': 'SEC1',
};

export function isPrivateKeyLabel(label: string): boolean {
  return label in PEM_FORMATS;
}

/** The first private key block in PEM text (a combined file: certificates and their key), if any. */
export function privateKeyBlock(text: string): PemBlock | undefined {
  return splitPem(text).find((b) => isPrivateKeyLabel(b.label));
}

function isEncryptedBlock(block: PemBlock): boolean {
  // PKCS#8 says so in its label; PKCS#1 and SEC1 ("traditional" OpenSSL) say so in a header.
  return block.label === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/.test(block.headers['Proc-Type'] ?? '');
}

export function loadPemPrivateKey(block: PemBlock, file: string, index: number, passphrase?: string): LoadedPrivateKey {
  const format = PEM_FORMATS[block.label];
  const encrypted = isEncryptedBlock(block);
  if (encrypted && passphrase === undefined) return { format, encrypted, key: null };
  try {
    return { format, encrypted, key: createPrivateKey({ key: block.pem, format: 'pem', passphrase }) };
  } catch (err) {
    // Decrypting with the wrong passphrase fails at the padding check or, rarely, later while
    // decoding the garbage it produced: with a passphrase in play, either means the passphrase.
    if (encrypted) throw new CertificateFileError('wrong-passphrase', file, `wrong passphrase for ${file}`);
    throw new CertificateFileError('invalid', file, `${file}: private key ${index} cannot be parsed (${(err as Error).message})`);
  }
}

/** A bare DER private key (PKCS#8, PKCS#1 or SEC1), or null when the bytes are none of them. */
export function tryLoadDerPrivateKey(der: Buffer): LoadedPrivateKey | null {
  const attempts: Array<[PrivateKeyFormat, 'pkcs8' | 'pkcs1' | 'sec1']> = [
    ['PKCS#8', 'pkcs8'],
    ['PKCS#1', 'pkcs1'],
    ['SEC1', 'sec1'],
  ];
  for (const [format, type] of attempts) {
    try {
      return { format, encrypted: false, key: createPrivateKey({ key: der, format: 'der', type }) };
    } catch {
      // Not this encoding; try the next.
    }
  }
  return null;
}
