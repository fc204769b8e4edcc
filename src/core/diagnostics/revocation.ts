/**
 * The server's certificate checked against the tunnel's `crl`: a revoked certificate, and a CRL
 * that cannot answer (none from a CA in the chain, out of date, badly signed). With a CRL set,
 * OpenSSL checks every certificate of the chain, so a CRL missing for one CA fails too.
 */
import * as tls from 'node:tls';
import { commonNameOf as cn } from '../certs/names';
import { chainOf } from '../certs/peer';
import { DiagnosisCode } from './diagnosis';

export interface RevocationFinding {
  code: DiagnosisCode;
  summary: string;
  fix: string;
}

const REPLACE = 'Replace the file with the current CRL from your CA (the tunnel reloads it; new connections use it).';

export function diagnoseRevocation(code: string, crl: string | undefined, peer: tls.DetailedPeerCertificate | undefined): RevocationFinding | undefined {
  const file = crl ? `the CRL file ${crl}` : 'the CRL';
  switch (code) {
    case 'CERT_REVOKED': {
      const who = peer ? ` (serial ${peer.serialNumber}, CN=${cn(peer.subject) ?? '?'})` : '';
      return {
        code: 'SERVER_CERT_REVOKED',
        summary: `the server's certificate${who} is revoked by your CRL: ${file} lists it, or a CA certificate above it, as revoked.`,
        fix: `The server must present a certificate that is not revoked: tell its operators. If ${file} is out of date or from the wrong CA, replace it; do not remove a revocation to get through.`,
      };
    }
    case 'UNABLE_TO_GET_CRL': {
      const chain = peer ? chainOf(peer) : [];
      const issuers = [...new Set(chain.map((c) => cn(c.issuer)).filter((n): n is string => !!n))];
      return {
        code: 'CRL_UNUSABLE',
        summary: `${file} has no CRL from every CA in the server's chain${issuers.length ? ` (${issuers.map((n) => `"${n}"`).join(', ')})` : ''}: with "crl" set, each certificate of the chain is checked against its issuer's CRL.`,
        fix: 'Put the CRL of every CA in the chain (intermediate and root) in the file, one PEM block after the other.',
      };
    }
    case 'CRL_HAS_EXPIRED':
      return { code: 'CRL_UNUSABLE', summary: `a CRL in ${file} has expired (its next-update date has passed), so revocation cannot be checked.`, fix: REPLACE };
    case 'CRL_NOT_YET_VALID':
      return { code: 'CRL_UNUSABLE', summary: `a CRL in ${file} is not valid yet.`, fix: `Check this machine's clock; otherwise ${REPLACE.toLowerCase()}` };
    case 'CRL_SIGNATURE_FAILURE':
    case 'UNABLE_TO_DECRYPT_CRL_SIGNATURE':
      return { code: 'CRL_UNUSABLE', summary: `a CRL in ${file} is not signed by the CA it names.`, fix: 'Use the CRL your CA publishes, unmodified.' };
    default:
      return undefined;
  }
}
