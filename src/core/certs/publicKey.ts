/**
 * Facts about a public key that certificates and private keys share: algorithm, curve, size, and
 * the SPKI pin users copy into `verify.spkiSha256`.
 */
import { KeyObject, createHash, createPublicKey } from 'node:crypto';

export interface KeyAlgorithm {
  /** `RSA`, `RSA-PSS`, `EC`, `Ed25519`, `Ed448`, `DSA`, or what Node reports for anything else. */
  type: string;
  /** NIST name where one exists (`P-256`), else OpenSSL's (`secp256k1`); null for non-EC keys. */
  curve: string | null;
  bits: number | null;
}

const TYPE_NAMES: Record<string, string> = {
  rsa: 'RSA',
  'rsa-pss': 'RSA-PSS',
  ec: 'EC',
  ed25519: 'Ed25519',
  ed448: 'Ed448',
  dsa: 'DSA',
  x25519: 'X25519',
  x448: 'X448',
};

const CURVES: Record<string, { name: string; bits: number }> = {
  prime256v1: { name: 'P-256', bits: 256 },
  secp384r1: { name: 'P-384', bits: 384 },
  secp521r1: { name: 'P-521', bits: 521 },
  secp256k1: { name: 'secp256k1', bits: 256 },
  secp224r1: { name: 'P-224', bits: 224 },
};

/** Edwards and Montgomery keys have a fixed size that Node does not report. */
const FIXED_BITS: Record<string, number> = { ed25519: 256, ed448: 448, x25519: 256, x448: 448 };

/** Works for public and private keys alike (a private key's details are its public half's). */
export function describeKey(key: KeyObject): KeyAlgorithm {
  const kind = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails ?? {};
  if (kind === 'ec') {
    const named = details.namedCurve ?? '';
    const curve = CURVES[named];
    return { type: 'EC', curve: curve?.name ?? (named || null), bits: curve?.bits ?? null };
  }
  return {
    type: TYPE_NAMES[kind] ?? kind,
    curve: null,
    bits: details.modulusLength ?? FIXED_BITS[kind] ?? null,
  };
}

/** `EC P-256`, `RSA 2048`, `Ed25519`. */
export function formatKeyAlgorithm(algorithm: KeyAlgorithm): string {
  if (algorithm.curve) return `${algorithm.type} ${algorithm.curve}`;
  // The size of an Ed25519 key is in its name; RSA and DSA sizes are what users compare.
  if (algorithm.bits && (algorithm.type === 'RSA' || algorithm.type === 'RSA-PSS' || algorithm.type === 'DSA')) {
    return `${algorithm.type} ${algorithm.bits}`;
  }
  return algorithm.type;
}

/**
 * base64(SHA-256(DER SubjectPublicKeyInfo)) — the HPKP / `verify.spkiSha256` pin format, the same
 * value as `openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`.
 */
export function spkiSha256(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
