/**
 * What an upstream that ends or errors after the handshake means, decided from plain facts about
 * the connection (no sockets here, so each rule has its own unit test). In TLS 1.3 the server
 * checks our certificate after the handshake has completed on our side, so a refusal arrives as
 * an alert, a reset or a bare close on the first read, not as a failed handshake: these rules
 * tell such a refusal (a failed handshake, reported with its diagnosis) from a connection that
 * broke later and from an exchange that simply finished.
 */

/**
 * A server that ends the session within this long after the handshake, having sent nothing, is
 * taken to have refused our certificate without an alert (ERR_MTLS_CLOSED_AFTER_HANDSHAKE).
 */
export const SILENT_REJECTION_WINDOW_MS = 1000;

/**
 * How much the local client may have sent beyond its preamble while an error still counts as a
 * refusal on the first read. A server refusing our certificate reads none of it, but the bytes
 * already left: the kernel's socket buffers and the first TLS flight take up to about this much
 * before the server's alert can come back. Past it, the server has been reading what we send,
 * so the exchange was under way and an error is a broken connection.
 */
export const REFUSAL_WINDOW_BYTES = 64 * 1024;

export interface UpstreamEndFacts {
  /** The server has sent application data on this connection. */
  receivedFromUpstream: boolean;
  /** A diagnosis was already made for this connection. */
  diagnosed: boolean;
  msSinceEstablished: number;
  /** The client's first bytes are a request the server answers by closing (PostgreSQL's CancelRequest). */
  answeredByClose: boolean;
  /** We had already ended our side (the local client half-closed first). */
  weEnded: boolean;
}

/** True when the server's end right after the handshake means it refused our certificate. */
export function isSilentRefusal(f: UpstreamEndFacts): boolean {
  if (f.receivedFromUpstream || f.diagnosed || f.msSinceEstablished > SILENT_REJECTION_WINDOW_MS) return false;
  // A CancelRequest (psql's Ctrl-C) is answered by a close without a word: not a refusal.
  if (f.answeredByClose) return false;
  // The server's end answers ours, as a sink that replies nothing does: not a refusal.
  return !f.weEnded;
}

export interface UpstreamErrorFacts {
  code?: string;
  receivedFromUpstream: boolean;
  /** The local client has ended its side. */
  clientEnded: boolean;
  /** Bytes the local client sent beyond its preamble. */
  clientBytesSent: number;
}

/**
 * - `finished`: the client said goodbye first (MySQL's COM_QUIT, an HTTP/1.0 request) and the
 *   server closed with our close_notify still unread, which the kernel turns into a reset: the
 *   exchange was complete, so the client is ended, not reset, and nothing is reported.
 * - `refused`: on the first read (see REFUSAL_WINDOW_BYTES): a failed handshake.
 * - `broken`: an established connection broke.
 */
export type UpstreamErrorVerdict = 'finished' | 'refused' | 'broken';

export function classifyUpstreamError(f: UpstreamErrorFacts): UpstreamErrorVerdict {
  if (f.code === 'ECONNRESET' && f.clientEnded && f.receivedFromUpstream) return 'finished';
  return f.receivedFromUpstream || f.clientBytesSent > REFUSAL_WINDOW_BYTES ? 'broken' : 'refused';
}
