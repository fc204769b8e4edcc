/**
 * Server identity: the chain is verified by OpenSSL against `ca` (never switched off); this adds
 * the name check against `serverName` (not whatever host the socket dialled), the extra SANs a
 * tunnel demands, and SPKI pins.
 */
import { X509Certificate, createHash } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { chainOf, subjectAltNames } from '../certs/peer';
import { TunnelConfig } from '../config/model';

export class IdentityError extends Error {
  /** `serverPin`: for a pin mismatch, the server key's own pin (what to pin instead, if the rotation is expected). */
  constructor(readonly code: 'ERR_MTLS_SAN_MISSING' | 'ERR_MTLS_PIN_MISMATCH', message: string, readonly cert: tls.PeerCertificate, readonly serverPin?: string) {
    super(message);
  }
}

/** Base64 SHA-256 of a certificate's DER SubjectPublicKeyInfo: the `verify.spkiSha256` format. */
export function spkiPin(cert: tls.PeerCertificate): string {
  // `cert.pubkey` is the SPKI DER for RSA but only the raw point for EC keys, so hash the
  // SubjectPublicKeyInfo re-exported from the certificate itself (what openssl and Envoy pin).
  const spki = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export function serverIdentityChecker(config: Pick<TunnelConfig, 'serverName' | 'verify'>): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const nameError = tls.checkServerIdentity(config.serverName, cert);
    if (nameError) return nameError;
    const sans = subjectAltNames(cert);
    const missing = config.verify.subjectAltNames.filter((want) => !sans.some((have) => sameSan(have, want)));
    if (missing.length > 0) {
      return new IdentityError('ERR_MTLS_SAN_MISSING', `server certificate lacks required SAN ${missing.join(', ')}; it has ${sans.join(', ') || 'none'}`, cert);
    }
    if (config.verify.spkiSha256.length > 0) {
      const pins = chainOf(cert).map(spkiPin);
      if (!pins.some((p) => config.verify.spkiSha256.includes(p))) {
        return new IdentityError('ERR_MTLS_PIN_MISMATCH', `no certificate in the server chain matches the pinned keys; the server key is ${pins[0]}`, cert, pins[0]);
      }
    }
    return undefined;
  };
}

function sameSan(have: string, want: string): boolean {
  if (want.startsWith('DNS:') || want.startsWith('email:')) return have.toLowerCase() === want.toLowerCase();
  if (want.startsWith('IP:') && have.startsWith('IP:')) return normalizeIp(have.slice(3)) === normalizeIp(want.slice(3));
  return have === want;
}

function normalizeIp(ip: string): string {
  if (!net.isIPv6(ip)) return ip;
  const sock = new net.SocketAddress({ address: ip, family: 'ipv6' });
  return sock.address;
}

/** SNI must be a host name, never an IP address (RFC 6066). */
export function sniFor(serverName: string): string | undefined {
  return net.isIP(serverName) ? undefined : serverName;
}
