/**
 * A throwaway certificate authority: the demo, the tests and the benchmarks make their PKI with it
 * at run time, so no key material is ever committed. Built on @peculiar/x509 over WebCrypto because
 * it signs RSA, EC and Ed25519 certificates alike (node-forge cannot do EC).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto, X509Certificate } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type KeyKind = 'rsa' | 'ec' | 'ed25519';
export type CertUsage = 'server' | 'client' | 'both';

export interface IssueOptions {
  commonName: string;
  usage: CertUsage;
  keyKind?: KeyKind;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

/** A certificate with its private key, both PEM. `chainPem` is the leaf followed by its intermediates. */
export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  chainPem: string;
  x509: X509Certificate;
}

const DAY = 86_400_000;

function algorithmFor(kind: KeyKind): RsaHashedKeyGenParams | EcKeyGenParams | Algorithm {
  switch (kind) {
    case 'rsa':
      return { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } as RsaHashedKeyGenParams;
    case 'ec':
      return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as EcKeyGenParams;
    case 'ed25519':
      return { name: 'Ed25519' };
  }
}

function signingAlgorithm(kind: KeyKind): Algorithm {
  return kind === 'ec' ? ({ name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams) : algorithmFor(kind);
}

async function generateKeys(kind: KeyKind): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithmFor(kind) as never, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as never));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  // Positive, non-zero, 16 random bytes: what real CAs do, and no collisions between runs.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x10;
  return Buffer.from(bytes).toString('hex');
}

function dn(commonName: string): string {
  return `CN=${commonName.replace(/([,+"\\<>;=])/g, '\\$1')}, O=mTLS Tunnels Test`;
}

export class CertificateAuthority {
  private constructor(
    readonly name: string,
    private readonly cert: x509.X509Certificate,
    private readonly keys: CryptoKeyPair,
    private readonly keyKind: KeyKind,
    /** Intermediates from this CA up to (not including) the root; empty for a root. */
    private readonly intermediates: x509.X509Certificate[],
    readonly keyPem: string,
  ) {}

  /** A new self-signed root CA. */
  static async create(commonName: string, keyKind: KeyKind = 'ec', validity?: { notBefore?: Date; notAfter?: Date }): Promise<CertificateAuthority> {
    const keys = await generateKeys(keyKind);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: dn(commonName),
      notBefore: validity?.notBefore ?? new Date(Date.now() - DAY),
      notAfter: validity?.notAfter ?? new Date(Date.now() + 3650 * DAY),
      signingAlgorithm: signingAlgorithm(keyKind),
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(commonName, cert, keys, keyKind, [], await privateKeyPem(keys.privateKey));
  }

  /** The CA certificate, PEM. */
  get certPem(): string {
    return this.cert.toString('pem') + '\n';
  }

  /** An intermediate CA signed by this one. */
  async intermediate(commonName: string, keyKind: KeyKind = this.keyKind): Promise<CertificateAuthority> {
    const keys = await generateKeys(keyKind);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: dn(commonName),
      issuer: this.cert.subject,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 1825 * DAY),
      signingAlgorithm: signingAlgorithm(this.keyKind),
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    return new CertificateAuthority(commonName, cert, keys, keyKind, [cert, ...this.intermediates], await privateKeyPem(keys.privateKey));
  }

  /** Intermediates between a leaf issued here and the root, PEM (empty for a root). */
  get intermediatesPem(): string {
    return this.intermediates.map((c) => c.toString('pem') + '\n').join('');
  }

  /**
   * A CRL signed by this CA that revokes the certificates with these serial numbers (hex), PEM:
   * revocation is tested with CRLs made at run time (node-forge cannot sign them).
   */
  async crl(revokedSerials: string[] = [], validity?: { thisUpdate?: Date; nextUpdate?: Date }): Promise<string> {
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.cert.subject,
      thisUpdate: validity?.thisUpdate ?? new Date(Date.now() - DAY),
      nextUpdate: validity?.nextUpdate ?? new Date(Date.now() + 30 * DAY),
      signingAlgorithm: signingAlgorithm(this.keyKind),
      signingKey: this.keys.privateKey,
      entries: revokedSerials.map((serialNumber) => ({ serialNumber, revocationDate: new Date(Date.now() - DAY) })),
      extensions: [await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey)],
    });
    // OpenSSL reads only the `X509 CRL` label; the library writes `CRL`.
    const b64 = Buffer.from(crl.rawData).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
    return `-----BEGIN X509 CRL-----\n${b64}-----END X509 CRL-----\n`;
  }

  /** A leaf certificate for a server, a client, or both. */
  async issue(options: IssueOptions): Promise<IssuedCertificate> {
    const keyKind = options.keyKind ?? this.keyKind;
    const keys = await generateKeys(keyKind);
    const names: x509.JsonGeneralName[] = [
      ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
      ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ];
    const usages: string[] = [];
    if (options.usage !== 'client') usages.push(x509.ExtendedKeyUsage.serverAuth);
    if (options.usage !== 'server') usages.push(x509.ExtendedKeyUsage.clientAuth);
    const keyUsage = keyKind === 'rsa'
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      : x509.KeyUsageFlags.digitalSignature;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension(usages),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
    ];
    if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: dn(options.commonName),
      issuer: this.cert.subject,
      notBefore: options.notBefore ?? new Date(Date.now() - DAY),
      notAfter: options.notAfter ?? new Date(Date.now() + 365 * DAY),
      signingAlgorithm: signingAlgorithm(this.keyKind),
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions,
    });
    const certPem = cert.toString('pem') + '\n';
    return {
      certPem,
      keyPem: await privateKeyPem(keys.privateKey),
      chainPem: certPem + this.intermediatesPem,
      x509: new X509Certificate(certPem),
    };
  }
}
