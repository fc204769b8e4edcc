/**
 * Chains on both sides, told apart by the certificates themselves rather than by the error code
 * alone: OpenSSL says "unable to get issuer" whether our CA file lacks the server's root, the
 * server forgot to send its intermediate, or the CA file holds a leaf; the server says "unknown ca"
 * whether it lacks our root or our certificate file lacks our intermediate. Each finding here is
 * a fact read from the certificates (who issued whom, checked by signature; what a CA file
 * holds; which extended key usages a certificate carries).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { issuedBy } from '../certs/chain';
import { commonNameOf, oneLineName } from '../certs/names';
import { chainOf } from '../certs/peer';
import { pemCertificates } from '../certs/pem';
import { isSelfSigned } from '../certs/summary';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';

/** A certificate and where the doctor found it, for the sentence ("it is in your CA file"). */
export interface FoundCertificate {
  cert: X509Certificate;
  where: string;
}

export function x509Of(peer: tls.PeerCertificate): X509Certificate {
  return new X509Certificate(peer.raw);
}

/** The server's chain as presented, leaf first, without the root Node appended from our trust store. */
export function presentedChain(peer: tls.PeerCertificate, trusted: X509Certificate[]): X509Certificate[] {
  const all = chainOf(peer).map(x509Of);
  const last = all[all.length - 1];
  const appended = all.length > 1 && isSelfSigned(last) && trusted.some((t) => t.raw.equals(last.raw));
  return appended ? all.slice(0, -1) : all;
}

/**
 * The certificates of a PEM file, or none when it cannot be read (the credentials check says why).
 * A storm of failed handshakes diagnoses each one: parsed certificates are kept per file content.
 */
export function certificatesIn(file: string | undefined): X509Certificate[] {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return [];
  }
  return parsedOnce(text);
}

const parsed = new Map<string, X509Certificate[]>();

function parsedOnce(pem: string): X509Certificate[] {
  const known = parsed.get(pem);
  if (known) return known;
  const certs = pemCertificates(pem).flatMap((b) => {
    try {
      return [new X509Certificate(b.der)];
    } catch {
      return [];
    }
  });
  if (parsed.size >= 16) parsed.delete(parsed.keys().next().value as string);
  parsed.set(pem, certs);
  return certs;
}

/** What the server certificate is checked against: `ca`, else Node's public roots. */
export function trustedFor(ca: string | undefined): X509Certificate[] {
  return ca ? certificatesIn(ca) : parsedOnce(tls.rootCertificates.join('\n'));
}

function issuerAmong(cert: X509Certificate, pools: Array<{ certs: X509Certificate[]; where: string }>): FoundCertificate | undefined {
  for (const pool of pools) {
    const found = pool.certs.find((candidate) => !candidate.raw.equals(cert.raw) && issuedBy(cert, candidate));
    if (found) return { cert: found, where: pool.where };
  }
  return undefined;
}

const name = (cert: X509Certificate) => commonNameOf(cert.subject) ?? oneLineName(cert.subject);

export type ServerChainFinding =
  /** `ca` holds certificates, none of them a CA: it cannot anchor any chain. */
  | { kind: 'ca-file-holds-leaf'; leaves: string[] }
  /** The server sent its leaf without the intermediate that issued it; found elsewhere, and it is not a root. */
  | { kind: 'missing-intermediate'; leaf: string; intermediate: string; foundIn: string }
  /** The presented chain is complete up to a root `ca` does not hold. */
  | { kind: 'missing-root'; leaf: string; root: string; via?: string };

/**
 * Why the server's chain did not verify, from the certificates: `presented` as the server sent it,
 * `trusted` from `ca` (or Node's roots), `elsewhere` the other certificates we hold (our own chain).
 */
export function explainServerChain(presented: X509Certificate[], trusted: X509Certificate[], caFile: string | undefined, elsewhere: FoundCertificate[]): ServerChainFinding | undefined {
  if (caFile && trusted.length > 0 && !trusted.some((t) => t.ca)) {
    return { kind: 'ca-file-holds-leaf', leaves: trusted.map((t) => oneLineName(t.subject)) };
  }
  const leaf = presented[0];
  if (!leaf) return undefined;
  const top = presented[presented.length - 1];
  if (isSelfSigned(top)) return undefined;
  if (presented.length === 1) {
    const found = issuerAmong(leaf, [{ certs: elsewhere.map((e) => e.cert), where: '' }]);
    if (found && !isSelfSigned(found.cert)) {
      const where = elsewhere.find((e) => e.cert.raw.equals(found.cert.raw))!.where;
      return { kind: 'missing-intermediate', leaf: name(leaf), intermediate: oneLineName(found.cert.subject), foundIn: where };
    }
    return undefined;
  }
  return { kind: 'missing-root', leaf: name(leaf), root: oneLineName(top.issuer), via: oneLineName(top.subject) };
}

/**
 * Our certificate file holds only the leaf, and its issuer, found among the certificates the
 * server sent or our CA file holds, is an intermediate: the server cannot chain us to its root.
 */
export function missingClientIntermediate(ourChain: X509Certificate[], known: FoundCertificate[]): { intermediate: string; foundIn: string } | undefined {
  if (ourChain.length !== 1) return undefined;
  const [leaf] = ourChain;
  if (isSelfSigned(leaf)) return undefined;
  const found = known.find((k) => !k.cert.raw.equals(leaf.raw) && issuedBy(leaf, k.cert));
  if (!found || isSelfSigned(found.cert)) return undefined;
  return { intermediate: oneLineName(found.cert.subject), foundIn: found.where };
}

/** The EKU names a certificate carries, or null when it has no EKU extension (any use allowed). */
function extendedKeyUsages(cert: X509Certificate): string[] | null {
  const oids = cert.keyUsage as string[] | undefined;
  if (!oids) return null;
  return oids.map((oid) => (oid === SERVER_AUTH ? 'serverAuth' : oid === CLIENT_AUTH ? 'clientAuth' : oid === ANY_EKU ? 'anyExtendedKeyUsage' : oid));
}

/** The EKUs of a certificate that does not permit `purpose`; undefined when it does. */
export function wrongPurpose(cert: X509Certificate, purpose: 'serverAuth' | 'clientAuth'): string[] | undefined {
  const eku = extendedKeyUsages(cert);
  if (eku === null || eku.includes(purpose) || eku.includes('anyExtendedKeyUsage')) return undefined;
  return eku;
}

/** The first certificate of the server's chain whose EKU forbids serverAuth (OpenSSL checks every one). */
export function serverCertificateWithoutServerAuth(presented: X509Certificate[]): { subject: string; eku: string[] } | undefined {
  for (const cert of presented) {
    const eku = wrongPurpose(cert, 'serverAuth');
    if (eku) return { subject: name(cert), eku };
  }
  return undefined;
}
