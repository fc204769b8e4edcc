/**
 * How TLS starts on the upstream connection, and what the local client must be told first.
 * `tls` wraps from the first byte; `postgres` negotiates with an SSLRequest; `postgres-direct`
 * is TLS from the first byte with ALPN `postgresql` (PostgreSQL 17+); `mysql` negotiates TLS
 * inside the MySQL handshake.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Diagnosis, PreambleAnswer } from '../diagnostics/diagnosis';

export class ProtocolError extends Error {
  constructor(readonly code: 'POSTGRES_SSL_REFUSED' | 'TARGET_SPEAKS_PLAINTEXT' | 'PROTOCOL_ERROR', message: string, readonly answer?: PreambleAnswer) {
    super(message);
  }
}

/**
 * The part of a protocol's negotiation that must run over TLS before bytes may flow untouched
 * (MySQL: the client's handshake response and the renumbered authentication exchange).
 */
export type SessionStart = (secure: tls.TLSSocket, client: net.Socket) => Promise<void>;

export interface ProtocolHandler {
  /**
   * Runs on the plain upstream socket before the TLS handshake; resolves when TLS may start.
   * `client` is the local client when there is one (the handshake doctor dials without).
   */
  upstreamPreamble?(upstream: net.Socket, client?: net.Socket): Promise<SessionStart | undefined | void>;
  /**
   * The upstream preamble writes to the local client (MySQL relays the server's greeting): once
   * it has run, another target cannot take over the connection.
   */
  readonly preambleTalksToClient?: boolean;
  /**
   * Runs on the local client before bytes are forwarded: answers what the client asks of a
   * server it thinks is plain (psql's SSLRequest), and returns the bytes read that must be
   * forwarded. Resolves `undefined` when the client closed first.
   */
  clientPreamble?(client: net.Socket): Promise<Buffer | undefined>;
  /**
   * Whether the server answers these first client bytes by closing without a word (PostgreSQL's
   * CancelRequest). A close like that otherwise reads as the server silently refusing our
   * certificate.
   */
  closesSilently?(early: Buffer): boolean;
  /**
   * What to tell the local client when the upstream could not be reached, in its own protocol
   * (PostgreSQL: an ErrorResponse psql prints), instead of a bare reset.
   */
  failClient?(diagnosis: Diagnosis): Buffer | undefined;
}
