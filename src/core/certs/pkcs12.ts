/**
 * Reads a PKCS#12 bundle (.p12 / .pfx) with node-forge, loaded on first use so the extension's
 * activation does not pay for it. Forge decodes only RSA: it leaves EC and Ed25519 certificates
 * and keys as raw ASN.1, so everything is handed to Node's crypto as DER whatever forge made of it.
 */
import { KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import type * as Forge from 'node-forge';
import { CertificateFileError } from './errors';

export interface Pkcs12Contents {
  certificates: X509Certificate[];
  /** `encrypted`: the key sat in a shrouded (passphrase-encrypted) bag rather than a plain one. */
  keys: Array<{ key: KeyObject; encrypted: boolean }>;
}

type ForgeModule = typeof Forge;

async function loadForge(): Promise<ForgeModule> {
  const loaded = (await import('node-forge')) as ForgeModule & { default?: ForgeModule };
  return loaded.default ?? loaded;
}

function toBuffer(forge: ForgeModule, asn1: Forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/** Structurally a PKCS#12 PFX? (Decides "not a bundle" before any passphrase is tried.) */
export async function parsePkcs12Asn1(der: Buffer): Promise<Forge.asn1.Asn1 | null> {
  const forge = await loadForge();
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')), true);
    // PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, macData OPTIONAL }
    const children = asn1.value;
    if (!Array.isArray(children) || children.length < 2) return null;
    const version = children[0];
    if (version.type !== forge.asn1.Type.INTEGER || forge.asn1.derToInteger(version.value as string) !== 3) return null;
    return asn1;
  } catch {
    return null;
  }
}

function isPasswordFailure(err: unknown): boolean {
  // Forge's words for a failed MAC check or an undecryptable shrouded key bag.
  const message = err instanceof Error ? err.message : String(err);
  return /password/i.test(message);
}

/**
 * Certificates and private keys of a bundle. Without a passphrase the empty one is tried, which
 * is what `openssl pkcs12 -passout pass:` writes.
 */
export async function readPkcs12(asn1: Forge.asn1.Asn1, file: string, passphrase?: string): Promise<Pkcs12Contents> {
  const forge = await loadForge();
  let p12: Forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, passphrase ?? '');
  } catch (err) {
    if (!isPasswordFailure(err)) {
      throw new CertificateFileError('invalid', file, `${file}: PKCS#12 bundle cannot be read (${(err as Error).message ?? err})`);
    }
    if (passphrase === undefined) throw new CertificateFileError('passphrase-needed', file, `passphrase needed for ${file}`);
    throw new CertificateFileError('wrong-passphrase', file, `wrong passphrase for ${file}`);
  }

  const { certBag, keyBag, pkcs8ShroudedKeyBag } = forge.pki.oids;
  const bags = (type: string) => p12.getBags({ bagType: type })[type] ?? [];

  const certificates = bags(certBag).map((bag, i) => {
    const asn1Cert = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
    try {
      return new X509Certificate(toBuffer(forge, asn1Cert));
    } catch (err) {
      throw new CertificateFileError('invalid', file, `${file}: certificate ${i + 1} in the bundle cannot be parsed (${(err as Error).message})`);
    }
  });

  const keyBags = [...bags(pkcs8ShroudedKeyBag), ...bags(keyBag)];
  const keys = keyBags.map((bag, i) => {
    // For a decoded RSA key forge keeps only its own object: re-wrap it as PrivateKeyInfo.
    const info = bag.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key)) : bag.asn1;
    try {
      const key = createPrivateKey({ key: toBuffer(forge, info), format: 'der', type: 'pkcs8' });
      return { key, encrypted: bag.type === pkcs8ShroudedKeyBag };
    } catch (err) {
      throw new CertificateFileError('invalid', file, `${file}: private key ${i + 1} in the bundle cannot be parsed (${(err as Error).message})`);
    }
  });

  return { certificates, keys };
}
