/**
 * One local client bridged to one upstream TLS session, in two steps:
 *
 * - establish(): the upstream dial starts the moment the client connects, while the protocol's
 *   client preamble (psql's SSLRequest) is answered locally; then what the protocol still has to
 *   do over TLS (MySQL's authentication) runs under a deadline of its own.
 * - relay(): bytes flow with `forward()` (what `pipe()` does, shaped for TLS): it honours
 *   backpressure in both directions, and with `allowHalfOpen` on both sockets an end from one
 *   side becomes an end (TLS close_notify + FIN) on the other while the opposite direction keeps
 *   flowing, so a late reply is never cut off.
 *
 * The upstream socket has one error listener for its whole life, which acts by stage; what an
 * end or an error after the handshake means is decided by the pure rules in upstreamClose.ts.
 * About 400 lines: one connection's stages, in the order they happen (the choice of target among
 * them), read best together.
 */
import * as net from 'node:net';
import { TunnelConfig, forTarget, formatEndpoint } from '../config/model';
import { diagnose, Phase } from '../diagnostics/diagnose';
import { Diagnosis } from '../diagnostics/diagnosis';
import { combineTargetFailures } from '../diagnostics/targets';
import { Logger, LogLevel, logsAt } from '../log';
import { ProtocolHandler } from '../protocols';
import { Credentials } from '../tls/credentials';
import { Flow, forward } from './forward';
import { dialTargets, TargetSet, TargetsFailed } from './targets';
import { HandshakeInfo, Upstream, UpstreamError } from './upstream';
import { classifyUpstreamError, isSilentRefusal } from './upstreamClose';
import { WarmUpstream } from './warmPool';

/** How long a local client may read the explanation of a failure before it is let go. */
const EXPLANATION_GRACE_MS = 2000;

/**
 * Plaintext reads are up to 64 KiB: while chunks that size keep coming, more is waiting, so the
 * TLS writer is corked to send them as one. Decrypted data arrives one 16 KiB TLS record at a time.
 */
const PLAINTEXT_BURST_CHUNK = 64 * 1024;
const RECORD_BURST_CHUNK = 16 * 1024;

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface ConnectionSnapshot {
  id: number;
  /** `address:port` of the local client (`the unix socket` for a unix-socket listener). */
  client: string;
  openedAt: number;
  state: ConnectionState;
  /** Plaintext bytes from the local client to the target. */
  bytesUp: number;
  /** Plaintext bytes from the target to the local client. */
  bytesDown: number;
  handshake?: HandshakeInfo;
  /** `host:port` of the target this connection uses, once its dial succeeded. */
  target?: string;
}

/**
 * What a connection is made with, taken once when it is accepted: a reload or a settings change
 * replaces the tunnel's reference, never edits it, so an open connection keeps what it started with.
 */
export interface LiveSettings {
  readonly config: TunnelConfig;
  readonly credentials: Credentials;
  readonly protocol: ProtocolHandler;
  /** Which target a new connection tries first (policy and backoff), shared by the tunnel's connections. */
  readonly targets: TargetSet;
}

export interface ConnectionHost {
  logger: Logger;
  /** A session to resume with target `index` (a session belongs to the server that issued it). */
  takeSession(index: number): Buffer | undefined;
  /** `live`: what the session was made with; a session carries its client certificate and target. */
  keepSession(session: Buffer, live: LiveSettings, index: number): void;
  onEstablished(c: BridgedConnection): void;
  /** The connection could not be established (including a rejection on the first read). */
  onFailed(c: BridgedConnection, diagnosis: Diagnosis): void;
  /** An established connection broke. */
  onBroken(c: BridgedConnection, diagnosis: Diagnosis): void;
  onClosed(c: BridgedConnection, diagnosis?: Diagnosis): void;
}

/**
 * Where the upstream socket is, for its one error listener: dialled while the client preamble
 * still runs (an error is kept for later), negotiating over TLS (the negotiation's promise
 * reports it), relaying (classified), or failed already (nothing more to say).
 */
type Stage = 'dialled' | 'negotiating' | 'relaying' | 'done';

export class BridgedConnection {
  private state: ConnectionState = 'connecting';
  private stage: Stage = 'dialled';
  private upstream?: Upstream;
  private readonly abort = new AbortController();
  private readonly openedAt = Date.now();
  private diagnosis?: Diagnosis;
  private closed = false;
  private readonly clientAddress: string;
  /** An upstream error while the client preamble still ran. */
  private earlyError?: NodeJS.ErrnoException;
  /** Bytes read from the client by its preamble (forwarded first). */
  private early?: Buffer;
  private establishedAt = 0;
  private down?: Flow;
  private releaseTimer?: NodeJS.Timeout;
  /** Sides that have ended while relaying (the local client, the server). */
  private ends = 0;
  /** Runs from the first half-close until the other side ends too (closeTimeoutMs). */
  private closeTimer?: NodeJS.Timeout;
  /** Ends the connection at maxConnectionLifetimeMs. */
  private lifetimeTimer?: NodeJS.Timeout;
  /** The target the dial reached (an index into the config's targets), once it did. */
  private targetIndex?: number;

  /** `warm`: an upstream dialled before this client came (warmPool.ts), used instead of a dial. */
  constructor(readonly id: number, private readonly client: net.Socket, private readonly live: LiveSettings, private readonly host: ConnectionHost, private readonly warm?: WarmUpstream) {
    // A unix-socket client has no address: the socket is all there is to name.
    this.clientAddress = client.remoteAddress ? `${client.remoteAddress}:${client.remotePort}` : 'the unix socket';
    // The pool let go of its error listener as it handed the socket over: this one takes over at once.
    warm?.upstream.socket.on('error', (e: NodeJS.ErrnoException) => this.onUpstreamError(e));
  }

  /** Starts bridging: listeners on the client, then establishing the upstream and relaying. */
  start(): void {
    const { client, host, id } = this;
    const { config } = this.live;
    client.setNoDelay(true);
    client.on('error', (e: NodeJS.ErrnoException) => {
      if (logsAt(host.logger, LogLevel.Debug)) host.logger.debug(`#${id} local client ${this.clientAddress}: ${e.code ?? e.message}`);
      this.abort.abort();
      this.upstream?.socket.destroy();
    });
    client.once('close', () => {
      clearTimeout(this.releaseTimer);
      this.onSocketClosed();
    });
    if (config.idleTimeoutMs > 0) {
      client.setTimeout(config.idleTimeoutMs, () => {
        host.logger.debug(`#${id} idle for ${config.idleTimeoutMs} ms: closing`);
        this.destroy();
      });
    }
    if (config.maxConnectionLifetimeMs > 0) {
      // Lets credentials rotate and load move between servers for long-lived clients (pools).
      this.lifetimeTimer = setTimeout(() => {
        host.logger.info(`#${id} open for ${config.maxConnectionLifetimeMs} ms (maxConnectionLifetimeMs): closing`);
        this.destroy();
      }, config.maxConnectionLifetimeMs);
      this.lifetimeTimer.unref();
    }
    this.establish().then(
      (upstream) => upstream && this.relay(upstream),
      (e: Error) => {
        // Every expected failure is handled inside; this keeps a bug from ending the process.
        host.logger.error(`#${id} bridging failed: ${e.message}`);
        this.destroy();
      },
    );
  }

  /** Ends the local connection at once with a diagnosis known before any dial (an expired identity). */
  refuse(diagnosis: Diagnosis): void {
    this.client.on('error', () => undefined);
    this.client.once('close', () => this.onSocketClosed());
    this.stage = 'done';
    this.diagnosis = diagnosis;
    this.host.onFailed(this, diagnosis);
    if (!this.tellClient(diagnosis)) this.client.destroy();
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
      ...(this.targetIndex !== undefined ? { target: formatEndpoint(this.live.config.targets[this.targetIndex] ?? this.live.config.target) } : {}),
    };
  }

  /** Tears the connection down now (stop after the drain timeout, idle timeout). */
  destroy(): void {
    this.abort.abort();
    this.upstream?.socket.destroy();
    this.client.destroy();
  }

  get durationMs(): number {
    return Date.now() - this.openedAt;
  }

  /**
   * Dials while the client preamble runs, then negotiates over TLS where the protocol needs it.
   * Resolves the upstream ready to relay, or undefined when the connection failed (reported) or
   * was abandoned (the client left, the tunnel stopped).
   */
  private async establish(): Promise<Upstream | undefined> {
    const { config, protocol, credentials } = this.live;
    const { targets } = this.live;
    const dial = (this.warm ? Promise.resolve(this.warm) : dialTargets(targets, config, credentials, {
      options: (index) => ({
        session: this.host.takeSession(index),
        onSession: (s) => this.host.keepSession(s, this.live, index),
        signal: this.abort.signal,
        client: this.client,
        // The dial can finish while the client preamble still waits on the local client (a pool's
        // idle connection, psql before its StartupMessage). From then on the upstream has its one
        // error listener, attached by the dial itself, so an error there (a reset, TLS 1.3 refusing
        // our certificate after the handshake) never goes unhandled.
        onError: (e) => this.onUpstreamError(e),
        retryRefused: true,
        onRetry: (n, ms) => this.host.logger.debug(`#${this.id} target refused the connection (${n}): connecting again in ${ms} ms`),
      }),
      onFailover: (failed, backoffMs, next) => this.host.logger.info(`#${this.id} target ${failed.target} failed (${failed.error.code ?? failed.error.message}): trying ${formatEndpoint(targets.targets[next])}; ${failed.target} is skipped for ${backoffMs} ms`),
      canFailOver: (e) => e.phase === 'connect' || e.phase === 'proxy' || !protocol.preambleTalksToClient,
    })).then(({ upstream, index }) => {
      this.targetIndex = index;
      if (targets.targets.length > 1) this.host.logger.info(`#${this.id} using target ${formatEndpoint(targets.targets[index])}`);
      return upstream;
    });
    // An upstream whose client already left does not stay open.
    dial.then((u) => {
      if (this.abort.signal.aborted) u.socket.destroy();
      else this.abort.signal.addEventListener('abort', () => u.socket.destroy(), { once: true });
    }, () => undefined); // the rejection is handled below once the client side is settled too
    try {
      if (protocol.clientPreamble) {
        this.early = await protocol.clientPreamble(this.client);
        if (this.early === undefined) {
          this.destroy();
          return undefined;
        }
      }
      this.upstream = await dial;
      if (this.earlyError) throw new UpstreamError(this.earlyError, 'first-read', this.upstream.peerCertificate);
    } catch (e) {
      if (this.abort.signal.aborted) return undefined;
      if (e instanceof TargetsFailed) {
        this.failWith(this.diagnoseTargets(e));
        return undefined;
      }
      const err = e instanceof UpstreamError ? e : new UpstreamError(e as NodeJS.ErrnoException, 'connect');
      this.fail(err.error, err.phase, err.peerCertificate);
      return undefined;
    }
    if (this.client.destroyed) {
      this.upstream.socket.destroy();
      return undefined;
    }
    if (this.upstream.sessionStart && !(await this.negotiate(this.upstream))) return undefined;
    return this.upstream;
  }

  /** The protocol's part over TLS (MySQL's authentication), under its own deadline. */
  private async negotiate(upstream: Upstream): Promise<boolean> {
    const { config } = this.live;
    const up = upstream.socket;
    this.stage = 'negotiating';
    // The dial's deadline ended with the handshake; a server that goes quiet now would hold the
    // connection forever without one of its own.
    const deadline = setTimeout(() => {
      const e: NodeJS.ErrnoException = new Error(`no answer within ${config.connectTimeoutMs} ms of the TLS handshake`);
      e.code = 'ERR_MTLS_CONNECT_TIMEOUT';
      up.destroy(e);
    }, config.connectTimeoutMs);
    try {
      await upstream.sessionStart!(up, this.client);
      return true;
    } catch (e) {
      up.destroy();
      // Stopped, idle, or the client left: nothing failed.
      if (this.abort.signal.aborted) {
        this.client.destroy();
        return false;
      }
      this.fail(e as NodeJS.ErrnoException, 'preamble', upstream.peerCertificate);
      return false;
    } finally {
      clearTimeout(deadline);
    }
  }

  private relay(upstream: Upstream): void {
    const up = upstream.socket;
    this.state = 'open';
    this.stage = 'relaying';
    this.establishedAt = Date.now();
    const h = upstream.handshake;
    if (logsAt(this.host.logger, LogLevel.Debug)) {
      this.host.logger.debug(`#${this.id} handshake: ${h.version}, ${h.cipher}${h.alpn ? `, ALPN ${h.alpn}` : ''}${h.resumed ? ', session resumed' : ''}${h.warm ? ', warm' : ''}`);
    }
    this.host.onEstablished(this);
    up.once('close', () => this.onSocketClosed());
    up.once('end', () => this.onSideEnded('the server'));
    if (this.early && this.early.length > 0) up.write(this.early);
    // A client that ended within its preamble (a few bytes, then EOF) has had its 'end' already;
    // forwarding would wait for it in vain and the server would never hear the client is done.
    if (this.client.readableEnded) {
      up.end();
      this.onSideEnded('the local client');
    } else this.client.once('end', () => this.onSideEnded('the local client'));
    forward(this.client, up, { burstChunk: PLAINTEXT_BURST_CHUNK });
    this.down = forward(up, this.client, { burstChunk: RECORD_BURST_CHUNK, beforeEnd: () => this.onUpstreamEnd() });
  }

  /**
   * Half-close is kept on purpose (a late reply must arrive), but a peer that never ends its side
   * would hold the connection, its sockets and its TLS state forever: once one side has ended,
   * the other gets closeTimeoutMs to end too, as ghostunnel's close timeout. When both have
   * ended, what is still queued is written out and the sockets close by themselves.
   */
  private onSideEnded(side: string): void {
    this.ends += 1;
    if (this.ends > 1) {
      clearTimeout(this.closeTimer);
    clearTimeout(this.lifetimeTimer);
      return;
    }
    const ms = this.live.config.closeTimeoutMs;
    if (ms <= 0) return;
    this.closeTimer = setTimeout(() => {
      this.host.logger.info(`#${this.id} ${side} ended its side ${ms} ms ago and the other has not (closeTimeoutMs): closing`);
      this.destroy();
    }, ms);
    this.closeTimer.unref();
  }

  /** The server ended its side: if that was a silent refusal, the client hears why before the end. */
  private onUpstreamEnd(): void {
    const up = this.upstream!.socket;
    const refused = isSilentRefusal({
      receivedFromUpstream: (this.down?.bytes ?? 0) > 0,
      diagnosed: this.diagnosis !== undefined,
      msSinceEstablished: Date.now() - this.establishedAt,
      answeredByClose: this.early !== undefined && this.live.protocol.closesSilently?.(this.early) === true,
      weEnded: up.writableEnded,
    });
    if (!refused) return;
    const e: NodeJS.ErrnoException = new Error('the server closed the connection right after the handshake');
    e.code = 'ERR_MTLS_CLOSED_AFTER_HANDSHAKE';
    this.diagnosis = this.diagnose(e, 'first-read', this.upstream?.peerCertificate);
    this.host.onFailed(this, this.diagnosis);
    const notice = this.live.protocol.failClient?.(this.diagnosis);
    if (notice && !this.client.destroyed) this.client.write(notice);
  }

  private onUpstreamError(e: NodeJS.ErrnoException): void {
    switch (this.stage) {
      case 'dialled':
        this.earlyError ??= e;
        return;
      case 'negotiating': // the negotiation's promise reports it
      case 'done':
        return;
      case 'relaying':
        break;
    }
    const receivedFromUpstream = (this.down?.bytes ?? 0) > 0;
    const verdict = classifyUpstreamError({
      code: e.code,
      receivedFromUpstream,
      clientEnded: this.client.readableEnded,
      clientBytesSent: this.client.bytesRead - (this.early?.length ?? 0),
    });
    if (verdict === 'finished') {
      this.host.logger.debug(`#${this.id} server reset the connection after the client finished`);
      // The exchange is complete: end, so a slow reader still gets every queued byte.
      if (!this.client.destroyed) this.client.end();
      return;
    }
    const phase: Phase = verdict === 'refused' ? 'first-read' : 'established';
    this.diagnosis = this.diagnose(e, phase, this.upstream?.peerCertificate);
    // Reported before the local client hears of it, so whoever watches the tunnel sees why first.
    if (verdict === 'refused') this.host.onFailed(this, this.diagnosis);
    else this.host.onBroken(this, this.diagnosis);
    // Before the server said anything the client can still be told why, in its own protocol
    // (psql prints the sentence); otherwise a reset stays a reset, so the local client sees
    // the failure rather than a clean end.
    if (!receivedFromUpstream && this.tellClient(this.diagnosis)) return;
    if (!this.client.destroyed) this.client.resetAndDestroy();
  }

  private diagnose(error: NodeJS.ErrnoException, phase: Phase, peerCertificate: Upstream['peerCertificate'], targetIndex = this.targetIndex ?? 0): Diagnosis {
    // The credentials the dial used, which a reload since may have replaced; the target it
    // reached (its address and server name). A broken connection's diagnosis names which connection it was.
    return diagnose(error, { config: forTarget(this.live.config, targetIndex), phase, peerCertificate, clientCertificate: this.live.credentials.clientChain[0], clientChain: this.live.credentials.clientChain, connectionId: phase === 'established' ? this.id : undefined });
  }

  /** Each target's own diagnosis, in one. */
  private diagnoseTargets(e: TargetsFailed): Diagnosis {
    const failures = e.attempts.map((a) => ({ target: a.target, diagnosis: this.diagnose(a.error.error, a.error.phase, a.error.peerCertificate, a.index) }));
    return combineTargetFailures(this.live.config.name, failures, e.untried);
  }

  private fail(error: NodeJS.ErrnoException, phase: Phase, peerCertificate: Upstream['peerCertificate']): void {
    this.failWith(this.diagnose(error, phase, peerCertificate));
  }

  private failWith(diagnosis: Diagnosis): void {
    this.stage = 'done';
    this.diagnosis = diagnosis;
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
    // Give the client a moment to read the explanation, then let go of it regardless; the timer
    // goes with the client's socket, so a burst of refusals leaves none behind.
    this.releaseTimer = setTimeout(() => this.client.destroy(), EXPLANATION_GRACE_MS);
    this.releaseTimer.unref();
    return true;
  }

  /** Finalises once both sockets are gone; an error on either side already destroyed the other. */
  private onSocketClosed(): void {
    const upstreamGone = !this.upstream || this.upstream.socket.destroyed;
    if (this.closed || !this.client.destroyed || !upstreamGone) return;
    this.closed = true;
    clearTimeout(this.closeTimer);
    this.state = 'closed';
    this.host.onClosed(this, this.diagnosis);
  }
}
