/**
 * Opening one upstream connection: TCP connect, protocol preamble, TLS handshake with the
 * tunnel's client identity, server verification. One deadline (`connectTimeoutMs`) covers all
 * three, as ghostunnel does. The tunnel and the handshake doctor both dial through here.
 *
 * A target that refuses the TCP connection is usually a server restarting: the tunnel's dials
 * (`retryRefused`) connect again after 50 ms, doubling to 1 s, for as long as the deadline allows,
 * and report the refusal once it does not. Other errors are not retried: they do not go away by
 * waiting. The doctor does not retry, so `check` answers at once. Which of several targets is
 * dialled, and in what order, is targets.ts's to say; this dials one.
 */
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { TunnelConfig } from '../config/model';
import { Phase } from '../diagnostics/diagnose';
import { protocolHandler, SessionStart } from '../protocols';
import { Credentials } from '../tls/credentials';
import { serverIdentityChecker, sniFor } from '../tls/identity';
import { firstHop, proxyConnect } from './proxy';

export interface HandshakeInfo {
  version: string;
  cipher: string;
  alpn: string | false;
  resumed: boolean;
  /** Dialled before its client came, and kept warm until it did (`warmConnections`). */
  warm?: boolean;
}

export interface PhaseTimings {
  /** DNS lookup (0 for an IP literal). */
  dnsMs: number;
  tcpMs: number;
  /** The CONNECT exchange with the proxy, when there is one (`dnsMs` and `tcpMs` are then the proxy's). */
  proxyMs?: number;
  preambleMs: number;
  tlsMs: number;
}

export interface Upstream {
  socket: tls.TLSSocket;
  handshake: HandshakeInfo;
  timings: PhaseTimings;
  /** The server's chain; for a resumed session read on first use, so undefined once the socket is gone. */
  peerCertificate?: tls.DetailedPeerCertificate;
  /** What the protocol still has to do over TLS before bytes flow untouched. */
  sessionStart?: SessionStart;
}

/** An upstream failure, with the phase it happened in and the server's chain when it was seen. */
export class UpstreamError extends Error {
  constructor(readonly error: NodeJS.ErrnoException, readonly phase: Phase, readonly peerCertificate?: tls.DetailedPeerCertificate) {
    super(error.message);
  }
  get code(): string | undefined {
    return this.error.code;
  }
}

export interface DialOptions {
  /** A TLS session to resume (used once). */
  session?: Buffer;
  /** Called with each new session ticket the server sends, for later resumption. */
  onSession?: (session: Buffer) => void;
  /** Overrides the tunnel's credentials' context (the doctor probes without a client identity). */
  secureContext?: tls.SecureContext;
  /** Aborts the dial (the local client went away). */
  signal?: AbortSignal;
  /** The local client, for protocols whose negotiation involves it (MySQL). */
  client?: net.Socket;
  /** TLS runs over what this returns instead of the raw socket (the doctor records a plaintext answer). */
  wrap?: (raw: net.Socket) => Duplex;
  /**
   * Hears the TLS socket's errors from the moment the dial succeeds: attached before the dial
   * resolves, so an error emitted before the caller's continuation runs is not unhandled.
   */
  onError?: (error: NodeJS.ErrnoException) => void;
  /** Connect again with backoff while the target refuses (ECONNREFUSED), within the deadline. */
  retryRefused?: boolean;
  /** Told of each refusal that will be retried, and how long until the next attempt. */
  onRetry?: (refusals: number, waitMs: number) => void;
}

/** The first wait before connecting again to a target that refused; doubled up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;

type DialConfig = Pick<TunnelConfig, 'target' | 'protocol' | 'serverName' | 'verify' | 'alpn' | 'minTlsVersion' | 'connectTimeoutMs' | 'proxy'>;

export function dialUpstream(config: DialConfig, credentials: Credentials, options: DialOptions = {}): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const handler = protocolHandler(config.protocol);
    const started = performance.now();
    const timings: PhaseTimings = { dnsMs: 0, tcpMs: 0, preambleMs: 0, tlsMs: 0 };
    let phase: Phase = 'connect';
    let peer: tls.DetailedPeerCertificate | undefined;
    let tlsSocket: tls.TLSSocket | undefined;
    let settled = false;
    let sessionStart: SessionStart | undefined;
    let mark = started;
    const deadline = started + config.connectTimeoutMs;
    let refusals = 0;
    let lastRefusal: NodeJS.ErrnoException | undefined;
    let retryWait = RETRY_FIRST_MS;
    let retryTimer: NodeJS.Timeout | undefined;
    const lap = () => {
      const now = performance.now();
      const d = now - mark;
      mark = now;
      return d;
    };

    const fail = (e: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(retryTimer);
      raw.destroy();
      tlsSocket?.destroy();
      reject(new UpstreamError(e, phase, peer));
    };
    const timer = setTimeout(() => {
      // Still connecting after refusals: the target refused until the deadline, which is what to say.
      if (lastRefusal && phase === 'connect') return fail(lastRefusal);
      const e: NodeJS.ErrnoException = new Error(`timed out after ${config.connectTimeoutMs} ms during ${phase}`);
      e.code = 'ERR_MTLS_CONNECT_TIMEOUT';
      fail(e);
    }, config.connectTimeoutMs);

    const onRawError = (e: NodeJS.ErrnoException) => {
      if (options.retryRefused && phase === 'connect' && e.code === 'ECONNREFUSED' && !settled) {
        refusals += 1;
        lastRefusal = e;
        if (performance.now() + retryWait < deadline) {
          raw.destroy();
          options.onRetry?.(refusals, retryWait);
          retryTimer = setTimeout(() => settled || connectRaw(), retryWait);
          retryWait = Math.min(retryWait * 2, RETRY_MAX_MS);
          return;
        }
        if (refusals > 1) e.message = `${e.message} (refused ${refusals} times within ${config.connectTimeoutMs} ms)`;
      }
      fail(e);
    };
    let raw: net.Socket;
    const connectRaw = () => {
      // allowHalfOpen: the TLSSocket wrapping `raw` inherits it; without it the server's end would
      // end our side too and cut off whatever the local client still sends (half-close).
      raw = net.connect({ ...firstHop(config), noDelay: true, allowHalfOpen: true });
      raw.once('lookup', () => {
        timings.dnsMs = lap();
      });
      raw.on('error', onRawError);
      raw.once('connect', onConnect);
    };
    options.signal?.addEventListener('abort', () => {
      const e: NodeJS.ErrnoException = new Error('the local client went away');
      e.code = 'ABORT_ERR';
      fail(e);
    }, { once: true });
    const onConnect = async () => {
      timings.tcpMs = lap();
      try {
        if (config.proxy) {
          phase = 'proxy';
          await proxyConnect(raw, config.proxy, config.target);
          timings.proxyMs = lap();
        }
        if (handler.upstreamPreamble) {
          phase = 'preamble';
          sessionStart = (await handler.upstreamPreamble(raw, options.client)) || undefined;
          timings.preambleMs = lap();
        }
      } catch (e) {
        fail(e as NodeJS.ErrnoException);
        return;
      }
      if (settled) return;
      phase = 'handshake';
      let socket: tls.TLSSocket;
      const checker = serverIdentityChecker(config);
      // A name that does not match is explained with the chain the server sent, read while it is there.
      const checkIdentity = (host: string, cert: tls.PeerCertificate) => {
        const error = checker(host, cert);
        if (error && !peer) peer = readChain(socket);
        return error;
      };
      try {
        // Throws synchronously on a bad session or context: a failed dial, not an unhandled rejection.
        socket = tls.connect({
          socket: options.wrap ? options.wrap(raw) : raw,
          secureContext: options.secureContext ?? credentials.context,
          servername: sniFor(config.serverName),
          checkServerIdentity: checkIdentity,
          rejectUnauthorized: true,
          minVersion: config.minTlsVersion,
          ALPNProtocols: config.alpn.length > 0 ? config.alpn : undefined,
          session: options.session,
        });
      } catch (e) {
        fail(e as NodeJS.ErrnoException);
        return;
      }
      tlsSocket = socket;
      watchPeer(socket, config, (chain) => (peer = chain), () => peer);
      if (options.onSession) socket.on('session', options.onSession);
      socket.on('error', fail);
      socket.once('secureConnect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        timings.tlsMs = lap();
        if (options.onError) socket.on('error', options.onError);
        socket.off('error', fail);
        raw.off('error', onRawError);
        resolve({
          socket,
          timings,
          get peerCertificate() {
            if (!peer && !socket.destroyed) peer = socket.getPeerCertificate(true) ?? undefined;
            return peer;
          },
          sessionStart,
          handshake: {
            version: socket.getProtocol() ?? 'unknown',
            cipher: socket.getCipher()?.name ?? 'unknown',
            alpn: socket.alpnProtocol ?? false,
            resumed: socket.isSessionReused(),
          },
        });
      });
    };
    connectRaw();
  });
}

type PeerReader = (detailed?: boolean) => tls.PeerCertificate | null;

/** The server's whole chain, converted (~0.4 ms for three certificates: OpenSSL 3 decodes each again). */
function readChain(socket: tls.TLSSocket): tls.DetailedPeerCertificate | undefined {
  return (socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | null) ?? undefined;
}

/**
 * Reads the server's chain on a full handshake only when something needs it: a verification that
 * failed (to explain it, before Node destroys the socket and the chain with it), a name that does
 * not match, or pinned keys. A handshake that verifies needs only the leaf for the name check
 * (23 µs instead of ~400 µs for the chain; bench/README.md, "a new connection's CPU"); a resumed
 * session is not verified again. The chain of a good connection is read if someone asks later.
 *
 * Node's own name check asks for the chain (`getPeerCertificate(true)`); it gets the leaf, or
 * our copy of the chain when we have one. Whether OpenSSL's verification failed is read from
 * the socket's handle, as Node does; a Node without it gets the chain every time, as before.
 * `getPeerX509Certificate()` is not an option: on a client in Node 20 its first call takes the
 * leaf out of the peer chain, so every later call, and Node's own check, finds none.
 */
function watchPeer(socket: tls.TLSSocket, config: Pick<TunnelConfig, 'verify'>, keep: (chain: tls.DetailedPeerCertificate | undefined) => void, kept: () => tls.DetailedPeerCertificate | undefined): void {
  const convert = socket.getPeerCertificate.bind(socket) as PeerReader;
  let checking = false;
  (socket as { getPeerCertificate: PeerReader }).getPeerCertificate = (detailed) => {
    if (!detailed) return convert(false);
    const chain = kept();
    if (chain) return chain;
    if (checking) {
      // Node's name check, the one call between this listener and its verdict.
      checking = false;
      return convert(false);
    }
    return convert(true);
  };
  socket.prependOnceListener('secure', () => {
    if (socket.isSessionReused()) return;
    const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
    const verified = typeof handle?.verifyError === 'function' && !handle.verifyError();
    if (verified && config.verify.spkiSha256.length === 0) {
      checking = true;
      return;
    }
    keep(readChain(socket));
  });
}
