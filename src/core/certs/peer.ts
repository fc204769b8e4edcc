/**
 * The server's certificates as a TLS socket hands them over (`tls.PeerCertificate`): the chain
 * Node links through `issuerCertificate`, and SANs in the syntax of `verify.subjectAltNames`.
 */
import * as tls from 'node:tls';
import { splitSubjectAltNames } from './names';

/** The certificate's SANs as `DNS:x`, `IP:1.2.3.4`, `URI:…`, `email:…`. */
export function subjectAltNames(cert: { subjectaltname?: string }): string[] {
  return splitSubjectAltNames(cert.subjectaltname).map((s) => s.replace(/^IP Address:/, 'IP:'));
}

/** Leaf first, up to the root (Node links them through `issuerCertificate`; a root points at itself). */
export function chainOf(cert: tls.PeerCertificate): tls.PeerCertificate[] {
  const out: tls.PeerCertificate[] = [];
  let c: tls.DetailedPeerCertificate | undefined = cert as tls.DetailedPeerCertificate;
  while (c && Object.keys(c).length > 0 && !out.includes(c)) {
    out.push(c);
    c = c.issuerCertificate === c ? undefined : c.issuerCertificate;
  }
  return out;
}
