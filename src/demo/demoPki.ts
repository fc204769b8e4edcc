/**
 * The PKI behind the editor's built-in demo ("mTLS Tunnels: Start the Demo Server"): a CA, a
 * server certificate for 127.0.0.1 / localhost, a client certificate from that CA, and a client
 * certificate from a CA the demo server does not trust, for the walkthrough's diagnosis step.
 * Smaller than the test PKI (no expired, RSA or Ed25519 variants), and kept in one folder so the
 * demo tunnels written to the settings stay valid from one session to the next; it is made again
 * only when a file is missing or a certificate is close to its end.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { IssuedCertificate } from '../core/pki/authority';
import type { PkiFiles } from '../core/pki/testPki';

export interface DemoPki {
  dir: string;
  /** The demo CA: trusted by the demo server for clients, and by the demo tunnels for the server. */
  ca: string;
  server: PkiFiles;
  /** A client certificate from the demo CA: the server accepts it. */
  client: PkiFiles;
  /** A client certificate from another CA: the server refuses it. */
  untrustedClient: PkiFiles;
}

const DAY = 86_400_000;
/** Made again when a certificate has less than this left, so a demo never trips over expiry. */
const RENEW_BEFORE_DAYS = 30;

/** Where the demo PKI's files are (or will be) in `dir`; cheap, creates nothing. */
export function demoPkiFiles(dir: string): DemoPki {
  const pair = (name: string) => ({ cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) });
  return { dir, ca: path.join(dir, 'ca.crt'), server: pair('server'), client: pair('client'), untrustedClient: pair('untrusted-client') };
}

/** The demo PKI in `dir`, made there first when missing, incomplete or about to expire. */
export async function ensureDemoPki(dir: string): Promise<DemoPki> {
  const pki = demoPkiFiles(dir);
  if (await usable(pki)) return pki;
  // Loaded here, not at the top: the editor reads demoPkiFiles at activation, and the
  // certificate library (with its Reflect metadata polyfill) is only needed to make new files.
  const { CertificateAuthority } = await import('../core/pki/authority');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Gone until the new set is complete, so an interrupted run is never taken for a usable one.
  await rm(pki.ca, { force: true });
  const write = (file: string, content: string) => writeFile(file, content, { mode: 0o600 });
  const save = async (target: PkiFiles, issued: IssuedCertificate) => {
    await write(target.cert, issued.chainPem);
    await write(target.key, issued.keyPem);
  };
  const ca = await CertificateAuthority.create('mTLS Tunnels Demo CA');
  const untrustedCa = await CertificateAuthority.create('Untrusted Demo CA');
  await save(pki.server, await ca.issue({ commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] }));
  await save(pki.client, await ca.issue({ commonName: 'demo-client', usage: 'client' }));
  await save(pki.untrustedClient, await untrustedCa.issue({ commonName: 'demo-client', usage: 'client' }));
  // Written last: its presence with fresh leaves is what `usable` checks.
  await write(pki.ca, ca.certPem);
  return pki;
}

async function usable(pki: DemoPki): Promise<boolean> {
  try {
    const soon = Date.now() + RENEW_BEFORE_DAYS * DAY;
    for (const file of [pki.ca, pki.server.cert, pki.client.cert, pki.untrustedClient.cert]) {
      if (Date.parse(new X509Certificate(await readFile(file)).validTo) < soon) return false;
    }
    await Promise.all([pki.server.key, pki.client.key, pki.untrustedClient.key].map((f) => readFile(f)));
    return true;
  } catch {
    return false;
  }
}
