/**
 * One local client bridged to one upstream TLS session. The upstream dial starts the moment the
 * client connects, while the protocol's client preamble (psql's SSLRequest) is answered locally.
 * Then bytes flow with `forward()` (what `pipe()` does, shaped for TLS): it honours backpressure
 * in both directions, and with `allowHalfOpen` on both sockets an end from one side becomes an
 * end (TLS close_notify + FIN) on the other while the opposite direction keeps flowing, so a late
 * reply is never cut off.
 */
import * as net from 'node:net';
import { TunnelConfig } from '../config/model';
import { diagnose, Phase } from '../diagnostics/diagnose';
import { Diagnosis } from '../diagnostics/diagnosis';
import { Logger } from '../log';
import { ProtocolHandler } from '../protocols';
import { Credentials } from '../tls/credentials';
import { forward } from './forward';
import { dialUpstream, HandshakeInfo, Upstream, UpstreamError } from './upstream';

/**
 * A server that ends the session within this long after the handshake, having sent nothing,
 * is taken to have refused our certificate without an alert (see ERR_MTLS_CLOSED_AFTER_HANDSHAKE).
 */
const SILENT_REJECTION_WINDOW_MS = 1000;

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface ConnectionSnapshot {
  id: number;
  /** `address:port` of the local client. */
  client: string;
  openedAt: number;
  state: ConnectionState;
  /** Plaintext bytes from the local client to the target. */
  bytesUp: number;
  /** Plaintext bytes from the target to the local client. */
  bytesDown: number;
  handshake?: HandshakeInfo;
}

/**
 * What a connection is made with, taken once when it is accepted: a reload or a settings change
 * replaces the tunnel's reference, never edits it, so an open connection keeps what it started with.
 */
export interface LiveSettings {
  readonly config: TunnelConfig;
  readonly credentials: Credentials;
  readonly protocol: ProtocolHandler;
}

export interface ConnectionHost {
  logger: Logger;
  takeSession(): Buffer | undefined;
  /** `live`: what the session was made with; a session carries its client certificate and target. */
  keepSession(session: Buffer, live: LiveSettings): void;
  onEstablished(c: BridgedConnection): void;
  /** The connection could not be established (including a rejection on the first read). */
  onFailed(c: BridgedConnection, diagnosis: Diagnosis): void;
  /** An established connection broke. */
  onBroken(c: BridgedConnection, diagnosis: Diagnosis): void;
  onClosed(c: BridgedConnection, diagnosis?: Diagnosis): void;
}

export class BridgedConnection {
  private state: ConnectionState = 'connecting';
  private upstream?: Upstream;
  private readonly abort = new AbortController();
  private readonly openedAt = Date.now();
  private diagnosis?: Diagnosis;
  private closed = false;
  private readonly clientAddress: string;

  constructor(readonly id: number, private readonly client: net.Socket, private readonly live: LiveSettings, private readonly host: ConnectionHost) {
    this.clientAddress = `${client.remoteAddress}:${client.remotePort}`;
  }

  /** Starts bridging: listeners on the client, then the upstream dial. */
  start(): void {
    const { client, host, id } = this;
    const { config } = this.live;
    client.setNoDelay(true);
    client.on('error', (e: NodeJS.ErrnoException) => {
      host.logger.debug(`#${id} local client ${this.clientAddress}: ${e.code ?? e.message}`);
      this.abort.abort();
      this.upstream?.socket.destroy();
    });
    client.once('close', () => this.onSocketClosed());
    if (config.idleTimeoutMs > 0) {
      client.setTimeout(config.idleTimeoutMs, () => {
        host.logger.debug(`#${id} idle for ${config.idleTimeoutMs} ms: closing`);
        this.destroy();
      });
    }
    void this.bridge();
  }

  snapshot(): ConnectionSnapshot {
    return {
      id: this.id,
      client: this.clientAddress,
      openedAt: this.openedAt,
      state: this.state,
      bytesUp: this.client.bytesRead,
      bytesDown: this.client.bytesWritten,
      handshake: this.upstream?.handshake,
    };
  }

  /** Tears the connection down now (stop after the drain timeout, idle timeout). */
  destroy(): void {
    this.abort.abort();
    this.upstream?.socket.destroy();
    this.client.destroy();
  }

  private async bridge(): Promise<void> {
    const { config, protocol, credentials } = this.live;
    const { logger } = this.host;
    const dial = dialUpstream(config, credentials, {
      session: this.host.takeSession(),
      onSession: (s) => this.host.keepSession(s, this.live),
      signal: this.abort.signal,
      client: this.client,
    });
    // The dial can finish while the client preamble still waits on the local client (a pool's idle
    // connection, psql before its StartupMessage). Until the pipe is set up, an upstream error
    // there (a reset, TLS 1.3 refusing our certificate after the handshake) must not go unhandled
    // and crash the process, and an upstream whose client already left must not stay open.
    let earlyError: NodeJS.ErrnoException | undefined;
    const keepEarlyError = (e: NodeJS.ErrnoException) => (earlyError ??= e);
    dial.then((u) => {
      u.socket.on('error', keepEarlyError);
      if (this.abort.signal.aborted) u.socket.destroy();
      else this.abort.signal.addEventListener('abort', () => u.socket.destroy(), { once: true });
    }, () => undefined); // the rejection is handled below once the client side is settled too
    let early: Buffer | undefined;
    try {
      if (protocol.clientPreamble) {
        early = await protocol.clientPreamble(this.client);
        if (early === undefined) {
          this.destroy();
          return;
        }
      }
      this.upstream = await dial;
      this.upstream.socket.off('error', keepEarlyError);
      if (earlyError) throw new UpstreamError(earlyError, 'first-read', this.upstream.peerCertificate);
    } catch (e) {
      if (this.abort.signal.aborted) return;
      const err = e instanceof UpstreamError ? e : new UpstreamError(e as NodeJS.ErrnoException, 'connect');
      this.fail(err.error, err.phase, err, credentials);
      return;
    }
    if (this.client.destroyed) {
      this.upstream.socket.destroy();
      return;
    }
    const up = this.upstream.socket;
    if (this.upstream.sessionStart) {
      // Errors surface through the negotiation's promise; this only keeps them from being unhandled.
      const quiet = () => undefined;
      up.on('error', quiet);
      // The dial's deadline ended with the handshake; the negotiation over TLS (MySQL's
      // authentication) gets one of its own, or a server that goes quiet would hold it forever.
      const deadline = setTimeout(() => {
        const e: NodeJS.ErrnoException = new Error(`no answer within ${config.connectTimeoutMs} ms of the TLS handshake`);
        e.code = 'ERR_MTLS_CONNECT_TIMEOUT';
        up.destroy(e);
      }, config.connectTimeoutMs);
      try {
        await this.upstream.sessionStart(up, this.client);
      } catch (e) {
        up.destroy();
        // Stopped, idle, or the client left: nothing failed.
        if (this.abort.signal.aborted) {
          this.client.destroy();
          return;
        }
        this.fail(e as NodeJS.ErrnoException, 'preamble', new UpstreamError(e as NodeJS.ErrnoException, 'preamble', this.upstream.peerCertificate), credentials);
        return;
      } finally {
        clearTimeout(deadline);
        up.off('error', quiet);
      }
    }
    this.state = 'open';
    const h = this.upstream.handshake;
    logger.trace(`#${this.id} ${h.version} ${h.cipher}${h.alpn ? ` alpn=${h.alpn}` : ''}${h.resumed ? ' resumed' : ''}`);
    this.host.onEstablished(this);

    let receivedFromUpstream = false;
    const establishedAt = Date.now();
    up.once('data', () => {
      receivedFromUpstream = true;
    });
    up.once('end', () => {
      if (receivedFromUpstream || this.diagnosis || Date.now() - establishedAt > SILENT_REJECTION_WINDOW_MS) return;
      // A CancelRequest (psql's Ctrl-C) is answered by a close without a word: not a refusal.
      if (early && protocol.closesSilently?.(early)) return;
      // We had already ended our side (the local client half-closed): the server's end answers
      // ours, as a sink that replies nothing does; it is not a rejection.
      if (up.writableEnded) return;
      const e: NodeJS.ErrnoException = new Error('the server closed the connection right after the handshake');
      e.code = 'ERR_MTLS_CLOSED_AFTER_HANDSHAKE';
      this.diagnosis = diagnose(e, { config, phase: 'first-read', peerCertificate: this.upstream?.peerCertificate, clientCertificate: credentials.clientChain[0] });
      this.host.onFailed(this, this.diagnosis);
      // Ahead of the end that forward() passes on, the client hears why in its own protocol.
      const notice = protocol.failClient?.(this.diagnosis);
      if (notice && !this.client.destroyed) this.client.write(notice);
    });
    up.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' && this.client.readableEnded && receivedFromUpstream) {
        // The client said goodbye first (MySQL's COM_QUIT, an HTTP/1.0 request) and the server
        // closed with our close_notify still unread, which the kernel turns into a reset: the
        // exchange was complete, so this is not worth a warning.
        logger.debug(`#${this.id} server reset the connection after the client finished`);
        // The exchange is complete: end, so a slow reader still gets every queued byte.
        if (!this.client.destroyed) this.client.end();
        return;
      }
      const phase: Phase = receivedFromUpstream || this.client.bytesRead > (early?.length ?? 0) + 64 * 1024 ? 'established' : 'first-read';
      this.diagnosis = diagnose(e, { config, phase, peerCertificate: this.upstream?.peerCertificate, clientCertificate: credentials.clientChain[0] });
      // Reported before the local client hears of it, so whoever watches the tunnel sees why first.
      // A rejection on the first read (TLS 1.3 checks our certificate after the handshake) counts
      // as a failed handshake; a later error is just a broken connection.
      if (phase === 'first-read') this.host.onFailed(this, this.diagnosis);
      else this.host.onBroken(this, this.diagnosis);
      // Before the server said anything the client can still be told why, in its own protocol
      // (psql prints the sentence); otherwise a reset stays a reset, so the local client sees
      // the failure rather than a clean end.
      if (!receivedFromUpstream && this.tellClient(this.diagnosis)) return;
      if (!this.client.destroyed) this.client.resetAndDestroy();
    });
    up.once('close', () => this.onSocketClosed());
    if (early && early.length > 0) up.write(early);
    // A client that ended within its preamble (a few bytes, then EOF) has had its 'end' already;
    // forwarding would wait for it in vain and the server would never hear the client is done.
    if (this.client.readableEnded) up.end();
    forward(this.client, up, { burstChunk: 64 * 1024 });
    forward(up, this.client, { burstChunk: 16 * 1024 });
  }

  /** `credentials`: the ones the dial used, which a reload since may have replaced. */
  private fail(error: NodeJS.ErrnoException, phase: Phase, upstreamError: UpstreamError, credentials: Credentials): void {
    this.diagnosis = diagnose(error, { config: this.live.config, phase, peerCertificate: upstreamError.peerCertificate, clientCertificate: credentials.clientChain[0] });
    this.host.onFailed(this, this.diagnosis);
    if (!this.tellClient(this.diagnosis)) this.client.destroy();
    this.onSocketClosed();
  }

  /**
   * Ends the local connection with the diagnosis in the client's protocol (PostgreSQL: an
   * ErrorResponse), where the protocol has a way to say it; false when it has none.
   */
  private tellClient(diagnosis: Diagnosis): boolean {
    const notice = this.live.protocol.failClient?.(diagnosis);
    if (!notice || this.client.destroyed) return false;
    this.client.end(notice);
    this.client.resume();
    // Give the client a moment to read the explanation, then let go of it regardless.
    setTimeout(() => this.client.destroy(), 2000).unref();
    return true;
  }

  /** Finalises once both sockets are gone; an error on either side already destroyed the other. */
  private onSocketClosed(): void {
    const upstreamGone = !this.upstream || this.upstream.socket.destroyed;
    if (this.closed || !this.client.destroyed || !upstreamGone) return;
    this.closed = true;
    this.state = 'closed';
    this.host.onClosed(this, this.diagnosis);
  }

  get durationMs(): number {
    return Date.now() - this.openedAt;
  }
}
