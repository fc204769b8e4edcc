/**
 * The standard throwaway PKI written to a folder: what the demo, the tests and the benchmarks
 * share. Every certificate here is made at run time and lives only in that folder.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { CertificateAuthority, IssuedCertificate, KeyKind } from './authority';

/** Paths of one identity: `cert` holds the leaf followed by its intermediates. */
export interface PkiFiles {
  cert: string;
  key: string;
}

export interface ThrowawayPki {
  dir: string;
  /** Root CA certificate (trust anchor for both sides). */
  ca: string;
  /** Root + intermediate bundle. */
  caBundle: string;
  root: CertificateAuthority;
  intermediate: CertificateAuthority;
  /** Server for localhost / 127.0.0.1 / ::1, issued by the intermediate. */
  server: PkiFiles;
  /** Client `alice`, issued by the intermediate. */
  client: PkiFiles;
  clientExpired: PkiFiles;
  clientNotYetValid: PkiFiles;
  /** A certificate that says `serverAuth` only, presented as a client certificate. */
  clientServerOnly: PkiFiles;
  serverExpired: PkiFiles;
  /** Valid server certificate for `other.example` only. */
  serverWrongName: PkiFiles;
  /** A CA nobody trusts, and identities it issued. */
  rogueCa: string;
  rogueClient: PkiFiles;
  rogueServer: PkiFiles;
  /** RSA root with an RSA server and client (the other algorithms are EC). */
  rsaCa: string;
  rsaServer: PkiFiles;
  rsaClient: PkiFiles;
  /** Ed25519 client issued by the intermediate. */
  ed25519Client: PkiFiles;
}

const DAY = 86_400_000;
const SERVER_NAMES = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };

export async function createThrowawayPki(dir: string, keyKind: KeyKind = 'ec'): Promise<ThrowawayPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const write = async (name: string, content: string) => {
    const file = path.join(dir, name);
    await writeFile(file, content, { mode: 0o600 });
    return file;
  };
  const save = async (name: string, issued: IssuedCertificate): Promise<PkiFiles> => ({
    cert: await write(`${name}.crt`, issued.chainPem),
    key: await write(`${name}.key`, issued.keyPem),
  });

  const root = await CertificateAuthority.create('mTLS Tunnels Test Root CA', keyKind);
  const intermediate = await root.intermediate('mTLS Tunnels Test Intermediate CA');
  const rogue = await CertificateAuthority.create('Rogue CA', keyKind);
  const rsaRoot = await CertificateAuthority.create('mTLS Tunnels Test RSA CA', 'rsa');
  const past = { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - 2 * DAY) };
  const future = { notBefore: new Date(Date.now() + 10 * DAY), notAfter: new Date(Date.now() + 400 * DAY) };

  return {
    dir,
    ca: await write('ca.crt', root.certPem),
    caBundle: await write('ca-bundle.crt', root.certPem + intermediate.certPem),
    root,
    intermediate,
    server: await save('server', await intermediate.issue({ commonName: 'localhost', usage: 'server', ...SERVER_NAMES })),
    client: await save('client', await intermediate.issue({ commonName: 'alice', usage: 'client' })),
    clientExpired: await save('client-expired', await intermediate.issue({ commonName: 'alice', usage: 'client', ...past })),
    clientNotYetValid: await save('client-future', await intermediate.issue({ commonName: 'alice', usage: 'client', ...future })),
    clientServerOnly: await save('client-serveronly', await intermediate.issue({ commonName: 'alice', usage: 'server' })),
    serverExpired: await save('server-expired', await intermediate.issue({ commonName: 'localhost', usage: 'server', ...SERVER_NAMES, ...past })),
    serverWrongName: await save('server-wrongname', await intermediate.issue({ commonName: 'other.example', usage: 'server', dnsNames: ['other.example'] })),
    rogueCa: await write('rogue-ca.crt', rogue.certPem),
    rogueClient: await save('rogue-client', await rogue.issue({ commonName: 'alice', usage: 'client' })),
    rogueServer: await save('rogue-server', await rogue.issue({ commonName: 'localhost', usage: 'server', ...SERVER_NAMES })),
    rsaCa: await write('rsa-ca.crt', rsaRoot.certPem),
    rsaServer: await save('rsa-server', await rsaRoot.issue({ commonName: 'localhost', usage: 'server', ...SERVER_NAMES })),
    rsaClient: await save('rsa-client', await rsaRoot.issue({ commonName: 'alice', usage: 'client' })),
    ed25519Client: await save('ed25519-client', await intermediate.issue({ commonName: 'alice', usage: 'client', keyKind: 'ed25519' })),
  };
}

/**
 * A PKCS#12 bundle of an RSA identity, encrypted with `passphrase` (node-forge writes only RSA
 * bundles; the tests make EC ones with the openssl command line where they need them).
 */
export async function writePkcs12(file: string, identity: PkiFiles, passphrase: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const forge = (await import('node-forge')).default;
  const certs = forge.pem.decode(await readFile(identity.cert, 'utf8')).map((block) =>
    forge.pki.certificateFromPem(forge.pem.encode(block)),
  );
  const key = forge.pki.privateKeyFromPem(await readFile(identity.key, 'utf8'));
  const asn1 = forge.pkcs12.toPkcs12Asn1(key, certs, passphrase, { algorithm: '3des', friendlyName: 'client' });
  await writeFile(file, Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary'), { mode: 0o600 });
  return file;
}
