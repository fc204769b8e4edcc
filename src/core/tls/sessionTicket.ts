/**
 * A TLS 1.3 session kept for resumption, without the server's certificate in it. Node hands
 * sessions out as OpenSSL's DER serialisation (`SSL_SESSION_ASN1`), which carries the server's
 * leaf certificate, and every `tls.connect({ session })` decodes it again: with OpenSSL 3.0 that
 * is ~0.4 ms of CPU per resumed connection (the public key goes through its decoder machinery),
 * a fifth of a new connection's cost (bench/README.md, "A new connection's CPU"). The certificate
 * is of no use there:
 * - on a client Node reads the server's certificate only from the chain of the handshake
 *   itself, which a resumed handshake does not carry, so `getPeerCertificate()` is empty on a
 *   resumed connection with or without it;
 * - Node's verdict on a resumed TLS 1.3 connection without a certificate in its session is "OK"
 *   (a TLS 1.3 resumption is a PSK handshake: only the server that issued the ticket can take
 *   it), exactly as with one; OpenSSL does not verify a resumed session again either way.
 * For TLS 1.2 Node would call a session without a certificate unverified, so only TLS 1.3
 * sessions are changed. Anything not shaped as expected is kept as it came.
 */
import { derElement, SEQUENCE } from '../certs/der';

/** `SSL_SESSION_ASN1`: [3] EXPLICIT peer certificate; the second field is the protocol version. */
const PEER_TAG = 0xa3;
const TLS1_3_VERSION = 0x0304;

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** The session without the server's certificate when it is TLS 1.3; otherwise the session itself. */
export function withoutServerCertificate(session: Buffer): Buffer {
  try {
    const outer = derElement(session, 0);
    if (outer.tag !== SEQUENCE || outer.end !== session.length) return session;
    const kept: Buffer[] = [];
    let version: number | undefined;
    let dropped = false;
    for (let at = outer.content, index = 0; at < outer.end; index++) {
      const e = derElement(session, at);
      if (index === 1) version = e.tag === 0x02 && e.end > e.content && e.end - e.content <= 4 ? session.readUIntBE(e.content, e.end - e.content) : undefined;
      if (e.tag === PEER_TAG) dropped = true;
      else kept.push(session.subarray(e.begin, e.end));
      at = e.end;
    }
    if (version !== TLS1_3_VERSION || !dropped) return session;
    const body = Buffer.concat(kept);
    return Buffer.concat([Buffer.from([SEQUENCE]), derLength(body.length), body]);
  } catch {
    return session;
  }
}
