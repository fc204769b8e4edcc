/** The certificates a check saw, as the report shows them: ours, the server's chain, and the root it led to. */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as tls from 'node:tls';
import { oneLineName } from '../certs/names';
import { pemCertificates } from '../certs/pem';
import { validityOf } from '../certs/validity';
import { TunnelConfig } from '../config/model';
import { chainOf, subjectAltNames } from '../certs/peer';
import { CertificateInfo } from './report';

export function describeCertificate(cert: X509Certificate): CertificateInfo {
  const validity = validityOf(cert);
  return {
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    validFrom: validity.validFrom.toISOString(),
    validTo: validity.validTo.toISOString(),
    daysLeft: validity.daysLeft,
    status: validity.status,
    subjectAltNames: subjectAltNames({ subjectaltname: cert.subjectAltName }),
  };
}

/** Splits off the root Node appended from our trust store, so the chain is what the server sent. */
export function describeChain(peer: tls.PeerCertificate, trusted: Set<string>): { presented: CertificateInfo[]; anchor?: CertificateInfo } {
  const chain = chainOf(peer);
  const last = chain[chain.length - 1] as tls.DetailedPeerCertificate;
  const anchored = chain.length > 1 && last.issuerCertificate === last && trusted.has(last.raw.toString('base64'));
  const presented = (anchored ? chain.slice(0, -1) : chain).map((c) => describeCertificate(new X509Certificate(c.raw)));
  return { presented, anchor: anchored ? describeCertificate(new X509Certificate(last.raw)) : undefined };
}

/** DER (base64) of the certificates trusted for the server: `ca`, else Node's public CAs. */
export async function trustedCertificates(config: Pick<TunnelConfig, 'ca'>): Promise<Set<string>> {
  let pem = tls.rootCertificates.join('\n');
  if (config.ca) {
    try {
      pem = await readFile(config.ca, 'latin1');
    } catch {
      pem = '';
    }
  }
  return new Set(pemCertificates(pem).map((block) => block.der.toString('base64')));
}
