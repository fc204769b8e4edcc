/**
 * Chain order: TLS peers expect the leaf first and each following certificate to have issued the
 * one before it. Servers reject (or silently mis-build) chains sent in any other order, and the
 * mistake is invisible in a PEM file — so it is checked, and when a reordering fixes it, said so.
 */
import { X509Certificate } from 'node:crypto';
import { oneLineName } from './names';

export interface ChainCheck {
  /** Each certificate is issued (name and signature) by the next one. */
  inOrder: boolean;
  /** Plain sentences; empty when in order. Certificates are numbered from 1 as printed. */
  problems: string[];
}

export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function label(certs: X509Certificate[], i: number): string {
  return `certificate ${i + 1} (${oneLineName(certs[i].subject)})`;
}

/**
 * Indices of `certs` in chain order: from the leaf (`leafIndex`, else the first certificate no
 * other one claims as issuer) along issuers; certificates outside that path follow in file order.
 */
export function chainOrder(certs: X509Certificate[], leafIndex?: number): number[] {
  if (certs.length === 0) return [];
  const issuesAnother = (i: number) => certs.some((other, j) => j !== i && issuedBy(other, certs[i]));
  const start = leafIndex ?? Math.max(0, certs.findIndex((_, i) => !issuesAnother(i)));
  const order = [start];
  for (;;) {
    const current = certs[order[order.length - 1]];
    const next = certs.findIndex((candidate, j) => !order.includes(j) && issuedBy(current, candidate));
    if (next < 0) break;
    order.push(next);
  }
  return [...order, ...certs.map((_, i) => i).filter((i) => !order.includes(i))];
}

/**
 * Null when there is no chain to check: a single certificate, or a CA bundle (every certificate a
 * CA), whose order means nothing.
 */
export function checkChainOrder(certs: X509Certificate[]): ChainCheck | null {
  if (certs.length < 2 || certs.every((c) => c.ca)) return null;
  const broken = certs.slice(0, -1).map((_, i) => i).filter((i) => !issuedBy(certs[i], certs[i + 1]));
  if (broken.length === 0) return { inOrder: true, problems: [] };

  const order = chainOrder(certs);
  const reorderFixes = order.every((i, k) => k === order.length - 1 || issuedBy(certs[i], certs[order[k + 1]]));
  if (reorderFixes) {
    return {
      inOrder: false,
      problems: [`chain out of order: put the leaf first and each issuer after the certificate it issued (order ${order.map((i) => i + 1).join(', ')})`],
    };
  }
  return {
    inOrder: false,
    problems: broken.map((i) => `chain out of order: ${label(certs, i)} is not issued by ${label(certs, i + 1)}`),
  };
}
