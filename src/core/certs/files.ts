/**
 * Reads one file of any kind users hold certificates in — PEM (certificates, chains, bundles,
 * keys, any mix), a bare DER certificate or key, or a PKCS#12 bundle — into Node crypto objects.
 * Whatever it is, the answer is the same shape, so callers never branch on file formats.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { chainOrder } from './chain';
import { CertificateFileError, readFailure } from './errors';
import { certificateMatchingKey } from './match';
import { isCertificateLabel, looksLikePem, splitPem } from './pem';
import { parsePkcs12Asn1, readPkcs12 } from './pkcs12';
import { LoadedPrivateKey, isPrivateKeyLabel, loadPemPrivateKey, tryLoadDerPrivateKey } from './privateKeys';

export type FileKind = 'PEM' | 'DER' | 'PKCS#12';

export interface LoadedFile {
  file: string;
  kind: FileKind;
  /** In file order, except PKCS#12 whose order carries no meaning: there, leaf first, then issuers. */
  certificates: X509Certificate[];
  keys: LoadedPrivateKey[];
  /** Parts of the file that were skipped, as sentences. */
  notes: string[];
}

/** OpenSSL writes these next to EC keys (`openssl ecparam -genkey`); they carry nothing to report. */
const SILENTLY_SKIPPED = new Set(['EC PARAMETERS']);

function unrecognized(file: string): CertificateFileError {
  return new CertificateFileError('unrecognized', file, `${file} is not a certificate, key or PKCS#12 bundle`);
}

function readPem(file: string, text: string, passphrase?: string): LoadedFile {
  const loaded: LoadedFile = { file, kind: 'PEM', certificates: [], keys: [], notes: [] };
  for (const block of splitPem(text)) {
    if (isCertificateLabel(block.label)) {
      try {
        loaded.certificates.push(new X509Certificate(block.der));
      } catch (err) {
        const n = loaded.certificates.length + 1;
        throw new CertificateFileError('invalid', file, `${file}: certificate ${n} cannot be parsed (${(err as Error).message})`);
      }
    } else if (isPrivateKeyLabel(block.label)) {
      loaded.keys.push(loadPemPrivateKey(block, file, loaded.keys.length + 1, passphrase));
    } else if (!SILENTLY_SKIPPED.has(block.label)) {
      loaded.notes.push(`skipped a "${block.label}" block (not a certificate or private key)`);
    }
  }
  if (loaded.certificates.length === 0 && loaded.keys.length === 0) throw unrecognized(file);
  return loaded;
}

async function readBinary(file: string, bytes: Buffer, passphrase?: string): Promise<LoadedFile> {
  try {
    return { file, kind: 'DER', certificates: [new X509Certificate(bytes)], keys: [], notes: [] };
  } catch {
    // Not a DER certificate; try the other binary forms.
  }
  const pfx = await parsePkcs12Asn1(bytes);
  if (pfx) {
    const { certificates, keys } = await readPkcs12(pfx, file, passphrase);
    const leaf = keys.length > 0 ? certificateMatchingKey(certificates, keys[0].key) : -1;
    return {
      file,
      kind: 'PKCS#12',
      certificates: chainOrder(certificates, leaf >= 0 ? leaf : undefined).map((i) => certificates[i]),
      keys: keys.map(({ key, encrypted }) => ({ format: 'PKCS#12', encrypted, key })),
      // Worth knowing: anyone who copies this file can use the key in it.
      notes: passphrase === undefined ? ['the bundle opened with an empty passphrase'] : [],
    };
  }
  const key = tryLoadDerPrivateKey(bytes);
  if (key) return { file, kind: 'DER', certificates: [], keys: [key], notes: [] };
  throw unrecognized(file);
}

/** Throws CertificateFileError, whose message names the file and says what is wrong. */
export async function readCertificateFile(file: string, passphrase?: string): Promise<LoadedFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw readFailure(file, err);
  }
  // PEM is ASCII; "latin1" never fails to decode, so binary input cannot throw here.
  const text = bytes.toString('latin1');
  return looksLikePem(text) ? readPem(file, text, passphrase) : readBinary(file, bytes, passphrase);
}
