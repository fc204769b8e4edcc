/**
 * The doctor's dials: one as the tunnel makes it (then a quiet listen for a late refusal), and
 * one without a client identity, to learn whether the server demands one.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as tls from 'node:tls';
import { TunnelConfig } from '../config/model';
import { Phase } from '../diagnostics/diagnose';
import { Credentials } from '../tls/credentials';
import { Upstream, UpstreamError, dialUpstream } from '../tunnel/upstream';
import { firstRead } from './firstRead';

export interface Attempt {
  /** Set when the handshake completed (even if the server refused us right after). */
  upstream?: Omit<Upstream, 'socket'>;
  failure?: { error: NodeJS.ErrnoException; phase: Phase; peerCertificate?: tls.DetailedPeerCertificate };
  /** Our leaf as sent, for PKCS#12 credentials whose chain is not parsed up front. */
  localCertificate?: X509Certificate;
}

/**
 * One dial as the tunnel makes it, then up to `firstReadMs` of listening without sending a byte:
 * TLS 1.3 servers check the client certificate after our Finished, so their refusal arrives as
 * an alert on the first read, after the handshake looked fine.
 */
export async function attempt(config: TunnelConfig, credentials: Credentials, firstReadMs: number, secureContext?: tls.SecureContext): Promise<Attempt> {
  let upstream: Upstream;
  try {
    upstream = await dialUpstream(config, credentials, { secureContext });
  } catch (e) {
    const err = e instanceof UpstreamError ? e : new UpstreamError(e as NodeJS.ErrnoException, 'connect');
    return { failure: { error: err.error, phase: err.phase, peerCertificate: err.peerCertificate } };
  }
  const { socket, ...info } = upstream;
  const localCertificate = socket.getX509Certificate();
  const after = await firstRead(socket, firstReadMs);
  await closeQuietly(socket);
  if (after.kind === 'error' || after.kind === 'end') {
    const error = after.kind === 'error' ? after.error : closedAfterHandshake();
    return { upstream: info, localCertificate, failure: { error, phase: 'first-read', peerCertificate: info.peerCertificate } };
  }
  return { upstream: info, localCertificate };
}

/**
 * Handshakes again with the CA alone and no client identity. A server that enforces mTLS refuses
 * that with an alert, in the handshake (TLS 1.2) or right after it (TLS 1.3); one that lets it
 * through does not require a client certificate, at least not during the handshake.
 */
export async function demandsClientCertificate(config: TunnelConfig, credentials: Credentials, firstReadMs: number): Promise<boolean | undefined> {
  const context = await anonymousContext(config);
  if (!context) return undefined;
  const probe = await attempt(config, credentials, firstReadMs, context);
  if (!probe.failure) return false;
  const { error, phase } = probe.failure;
  if (phase === 'first-read') return true;
  // A bare reset in the handshake tells nothing (it may meet everyone); an alert does.
  return phase === 'handshake' && /ALERT/.test(error.code ?? '') ? true : undefined;
}

/** Trust as the tunnel's, and no client identity: for asking what the server does without one. */
export async function anonymousContext(config: Pick<TunnelConfig, 'ca' | 'minTlsVersion'>): Promise<tls.SecureContext | undefined> {
  try {
    return tls.createSecureContext({ ca: config.ca ? await readFile(config.ca) : undefined, minVersion: config.minTlsVersion });
  } catch {
    return undefined;
  }
}

/**
 * close_notify and FIN, then let go once they are written: the server needs no more from us,
 * and waiting for its own close would stall on servers that keep a half-open socket.
 */
function closeQuietly(socket: tls.TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 500);
    socket.once('finish', done);
    socket.once('close', done);
    socket.on('error', () => undefined);
    socket.end();
  });
}

/** What the tunnel reports for the same silent close (see connection.ts), so both say the same. */
function closedAfterHandshake(): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error('the server closed the connection right after the handshake');
  e.code = 'ERR_MTLS_CLOSED_AFTER_HANDSHAKE';
  return e;
}
