/**
 * PKCS#12 bundles that OpenSSL 3 refuses: RC2-40 encryption, what `openssl pkcs12 -export -legacy`
 * and many Windows and macOS keychain exports write, needs OpenSSL's legacy provider, which Node
 * does not load. node-forge still reads them; the identity inside is handed to OpenSSL as PEM,
 * in memory only. Everything else keeps going through OpenSSL.
 */
import { readCertificateFile } from '../certs/files';
import { CertificateFileError } from '../certs/errors';

/** What Node throws for a bundle whose encryption OpenSSL 3 no longer offers by default. */
export function isUnsupportedPkcs12(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ERR_CRYPTO_UNSUPPORTED_OPERATION';
}

/** Leaf-first chain and key as PEM text; throws CertificateFileError (wrong or missing passphrase, no key). */
export async function legacyPkcs12Identity(file: string, passphrase: string | undefined): Promise<{ cert: string; key: string }> {
  const loaded = await readCertificateFile(file, passphrase);
  const key = loaded.keys[0]?.key;
  if (loaded.kind !== 'PKCS#12' || !key || loaded.certificates.length === 0) {
    throw new CertificateFileError('invalid', file, `${file} holds no certificate with its private key`);
  }
  return {
    cert: loaded.certificates.map((c) => c.toString()).join(''),
    key: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
