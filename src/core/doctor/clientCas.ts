/**
 * Which CAs the server accepts for client certificates, as the server itself says: the
 * certificate_authorities of its TLS 1.2 CertificateRequest. Node exposes nothing of that message,
 * so the doctor handshakes once more at TLS 1.2, without a client identity, over a tap that reads
 * the server's handshake records (plaintext before ChangeCipherSpec in TLS 1.2; TLS 1.3 encrypts
 * them, so a TLS 1.3-only server cannot be asked). The same records carry the server's chain,
 * which a TLS 1.2 handshake that fails on our certificate never hands to Node.
 */
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { nameText } from '../certs/distinguishedNames';
import { TunnelConfig } from '../config/model';
import { Credentials } from '../tls/credentials';
import { dialUpstream } from '../tunnel/upstream';
import { recordingTap } from './recordingTap';

export type AcceptedClientCas =
  | { names: string[]; der: Buffer[]; serverChain: X509Certificate[] }
  | { unavailable: string };

export async function acceptedClientCas(config: TunnelConfig, credentials: Credentials, ca: Buffer | undefined): Promise<AcceptedClientCas> {
  const records: Buffer[] = [];
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  } catch (e) {
    return { unavailable: (e as Error).message };
  }
  try {
    const upstream = await dialUpstream({ ...config, minTlsVersion: 'TLSv1.2' }, credentials, { secureContext: context, wrap: (raw) => recordingTap(raw, (c) => records.push(c)) });
    upstream.socket.destroy();
  } catch {
    // Expected when the server requires a certificate: the CertificateRequest came before that.
  }
  const messages = handshakeMessages(Buffer.concat(records));
  if (!messages.some((m) => m.type === 2)) return { unavailable: 'it does not speak TLS 1.2, and TLS 1.3 sends the list encrypted' };
  const request = messages.find((m) => m.type === 13);
  const certificate = messages.find((m) => m.type === 11);
  const serverChain = certificate ? certificateList(certificate.body) : [];
  if (!request) return { unavailable: 'it did not ask for a client certificate in a TLS 1.2 handshake' };
  const der = distinguishedNames(request.body);
  return { names: await Promise.all(der.map(nameText)), der, serverChain };
}

/** Handshake messages from the server's records, up to the first non-handshake record. */
function handshakeMessages(stream: Buffer): Array<{ type: number; body: Buffer }> {
  const fragments: Buffer[] = [];
  for (let at = 0; at + 5 <= stream.length;) {
    const type = stream[at];
    const length = stream.readUInt16BE(at + 3);
    if (type !== 22 || at + 5 + length > stream.length) break;
    fragments.push(stream.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  const data = Buffer.concat(fragments);
  const messages: Array<{ type: number; body: Buffer }> = [];
  for (let at = 0; at + 4 <= data.length;) {
    const length = data.readUIntBE(at + 1, 3);
    if (at + 4 + length > data.length) break;
    messages.push({ type: data[at], body: data.subarray(at + 4, at + 4 + length) });
    at += 4 + length;
  }
  return messages;
}

/** TLS 1.2 Certificate: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>. */
function certificateList(body: Buffer): X509Certificate[] {
  const certs: X509Certificate[] = [];
  const end = Math.min(body.length, 3 + body.readUIntBE(0, 3));
  for (let at = 3; at + 3 <= end;) {
    const length = body.readUIntBE(at, 3);
    try {
      certs.push(new X509Certificate(body.subarray(at + 3, at + 3 + length)));
    } catch {
      break;
    }
    at += 3 + length;
  }
  return certs;
}

/** TLS 1.2 CertificateRequest: certificate_types<1..255>, signature algorithms<2..2^16-2>, certificate_authorities<0..2^16-1>. */
function distinguishedNames(body: Buffer): Buffer[] {
  let at = 1 + body[0];
  at += 2 + body.readUInt16BE(at);
  const end = Math.min(body.length, at + 2 + body.readUInt16BE(at));
  const names: Buffer[] = [];
  for (at += 2; at + 2 <= end;) {
    const length = body.readUInt16BE(at);
    names.push(Buffer.from(body.subarray(at + 2, at + 2 + length)));
    at += 2 + length;
  }
  return names;
}
