/**
 * A named tunnel: one loopback listener, one shared SecureContext, and a BridgedConnection per
 * local client. Lifecycle: new → start() → running → stop() (idempotent: every caller gets the
 * same promise; the listener closes at once, open connections get `drainTimeoutMs` to finish,
 * then are cut). A Tunnel is used once; restarting means a new Tunnel.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { TunnelConfig, formatEndpoint, Endpoint } from '../config/model';
import { clientValidity } from '../diagnostics/clientValidity';
import { Diagnosis, DiagnosisCode } from '../diagnostics/diagnosis';
import { Logger, prefixedLogger, silentLogger } from '../log';
import { protocolHandler, ProtocolHandler } from '../protocols';
import { Credentials, CredentialsError, loadCredentials } from '../tls/credentials';
import { CredentialWatcher } from './credentialWatcher';
import { BridgedConnection, ConnectionHost, ConnectionSnapshot } from './connection';
import { SessionPool } from './sessionPool';
import { HandshakeInfo } from './upstream';

export type TunnelState = 'stopped' | 'starting' | 'running' | 'stopping' | 'error';

export interface TunnelSnapshot {
  name: string;
  state: TunnelState;
  /** The address actually listened on (the real port when the config says 0). */
  listening?: Endpoint;
  openConnections: number;
  totalConnections: number;
  bytesUp: number;
  bytesDown: number;
  handshakesOk: number;
  handshakesFailed: Partial<Record<DiagnosisCode, number>>;
  lastHandshake?: HandshakeInfo;
  lastDiagnosis?: Diagnosis;
  credentials?: string;
  connections: ConnectionSnapshot[];
}

export interface TunnelOptions {
  logger?: Logger;
  /** Passphrase for `key` or `pfx` (from SecretStorage or the environment); never logged. */
  passphrase?: string;
  /** Reload credentials when their files change (default true). */
  watchCredentials?: boolean;
  /** How long open connections may finish on stop() before they are cut (default 5000 ms). */
  drainTimeoutMs?: number;
}

export interface TunnelEvents {
  state: [TunnelState];
  connectionOpened: [ConnectionSnapshot];
  connectionClosed: [ConnectionSnapshot, Diagnosis | undefined];
  diagnosis: [Diagnosis];
  credentialsReloaded: [string];
}

/** Start failed: the diagnosis names the tunnel, the field and the fix. */
export class TunnelStartError extends Error {
  constructor(readonly diagnosis: Diagnosis, readonly field: string) {
    super(diagnosis.summary);
  }
}

export class Tunnel extends EventEmitter<TunnelEvents> {
  private _state: TunnelState = 'stopped';
  private server?: net.Server;
  private credentials?: Credentials;
  private watcher?: CredentialWatcher;
  private readonly connections = new Set<BridgedConnection>();
  private readonly sessions = new SessionPool();
  private readonly logger: Logger;
  private readonly protocol: ProtocolHandler;
  private readonly connectionHost: ConnectionHost;
  private nextId = 1;
  private totals = { connections: 0, bytesUp: 0, bytesDown: 0, ok: 0 };
  private readonly failures: Partial<Record<DiagnosisCode, number>> = {};
  private lastHandshake?: HandshakeInfo;
  private lastDiagnosis?: Diagnosis;
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  private used = false;

  constructor(readonly config: TunnelConfig, private readonly options: TunnelOptions = {}) {
    super();
    this.logger = prefixedLogger(options.logger ?? silentLogger, config.name);
    this.protocol = protocolHandler(config.protocol);
    this.connectionHost = this.makeConnectionHost();
  }

  get name(): string {
    return this.config.name;
  }

  get state(): TunnelState {
    return this._state;
  }

  /** Loads credentials (failing fast), then listens. Rejects with TunnelStartError. */
  start(): Promise<void> {
    if (this.used) return Promise.reject(new Error(`tunnel "${this.name}" was already started once; create a new Tunnel to restart`));
    this.used = true;
    this.starting = this.startOnce();
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    this.setState('starting');
    const c = this.config;
    try {
      try {
        this.credentials = await loadCredentials(c, this.options.passphrase);
      } catch (e) {
        if (e instanceof CredentialsError) throw new TunnelStartError(e.diagnosis, e.field);
        throw e;
      }
      this.server = await this.listen();
    } catch (e) {
      const diagnosis = e instanceof TunnelStartError ? e.diagnosis : undefined;
      if (diagnosis) this.report(diagnosis);
      this.setState('error');
      throw e;
    }
    const addr = this.address();
    this.logger.info(`listening on ${addr ? formatEndpoint(addr) : '?'} -> ${formatEndpoint(c.target)} (${c.protocol}); ${this.credentials.description}`);
    this.warnAboutClientCertificate(this.credentials);
    if (this.options.watchCredentials !== false) {
      this.watcher = new CredentialWatcher(this.credentials.files, () => void this.reloadCredentials());
    }
    this.setState('running');
  }

  /** The address the listener is bound to, once running. */
  address(): Endpoint | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  /**
   * Re-reads the credential files. Existing connections keep the session they have; new ones use
   * the new credentials. If reloading fails, the last good credentials are kept.
   */
  async reloadCredentials(): Promise<boolean> {
    if (this._state !== 'running') return false;
    try {
      const fresh = await loadCredentials(this.config, this.options.passphrase);
      this.credentials = fresh;
      this.sessions.clear();
      this.logger.info(`credentials reloaded: ${fresh.description}`);
      this.warnAboutClientCertificate(fresh);
      this.emit('credentialsReloaded', fresh.description);
      return true;
    } catch (e) {
      if (!(e instanceof CredentialsError)) throw e;
      const d: Diagnosis = { ...e.diagnosis, severity: 'warning', fix: `${e.diagnosis.fix} Until then the tunnel keeps using the credentials loaded before.` };
      this.report(d);
      return false;
    }
  }

  stop(): Promise<void> {
    // Once stopping, nothing moves the state back: a later start() is refused.
    this.used = true;
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  snapshot(): TunnelSnapshot {
    const connections = [...this.connections].map((c) => c.snapshot());
    return {
      name: this.name,
      state: this._state,
      listening: this.address(),
      openConnections: connections.length,
      totalConnections: this.totals.connections,
      bytesUp: this.totals.bytesUp + connections.reduce((n, c) => n + c.bytesUp, 0),
      bytesDown: this.totals.bytesDown + connections.reduce((n, c) => n + c.bytesDown, 0),
      handshakesOk: this.totals.ok,
      handshakesFailed: { ...this.failures },
      lastHandshake: this.lastHandshake,
      lastDiagnosis: this.lastDiagnosis,
      credentials: this.credentials?.description,
      connections,
    };
  }

  private async doStop(): Promise<void> {
    // stop() during start(): let the start finish (or fail) first, so its listener is closed too.
    if (this._state === 'starting') await this.starting?.catch(() => undefined);
    if (this._state === 'stopped' || this._state === 'error') {
      this.setState('stopped');
      return;
    }
    this.setState('stopping');
    this.watcher?.dispose();
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    if (this.connections.size > 0) {
      const drainMs = this.options.drainTimeoutMs ?? 5000;
      this.logger.info(`stopping: waiting up to ${drainMs} ms for ${this.connections.size} connection(s) to finish`);
      const drained = await this.waitForDrain(drainMs);
      if (!drained) {
        this.logger.info(`cutting ${this.connections.size} connection(s) still open`);
        for (const c of this.connections) c.destroy();
      }
    }
    await closed;
    this.sessions.clear();
    this.setState('stopped');
    this.logger.info('stopped');
  }

  private waitForDrain(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.connections.size === 0) return resolve(true);
      const timer = setTimeout(() => {
        this.off('connectionClosed', check);
        resolve(false);
      }, ms);
      const check = () => {
        if (this.connections.size > 0) return;
        clearTimeout(timer);
        this.off('connectionClosed', check);
        resolve(true);
      };
      this.on('connectionClosed', check);
    });
  }

  private listen(): Promise<net.Server> {
    const c = this.config;
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
      server.once('error', (e: NodeJS.ErrnoException) => reject(new TunnelStartError(listenProblem(c, e), 'listen')));
      server.listen({ host: c.listen.host, port: c.listen.port }, () => {
        server.removeAllListeners('error');
        server.on('error', (e) => this.logger.error(`listener error: ${e.message}`));
        server.on('connection', (socket) => this.accept(socket));
        resolve(server);
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this._state !== 'running' || !this.credentials) {
      socket.destroy();
      return;
    }
    const max = this.config.maxConnections;
    if (max > 0 && this.connections.size >= max) {
      this.logger.warn(`refused ${socket.remoteAddress}:${socket.remotePort}: ${max} connections open (maxConnections)`);
      socket.destroy();
      return;
    }
    const id = this.nextId++;
    this.totals.connections++;
    this.logger.debug(`#${id} accepted ${socket.remoteAddress}:${socket.remotePort}`);
    const connection = new BridgedConnection(id, socket, this.connectionHost);
    this.connections.add(connection);
  }

  private makeConnectionHost(): ConnectionHost {
    return {
      config: this.config,
      credentials: () => this.credentials!,
      protocol: this.protocol,
      logger: this.logger,
      takeSession: () => this.sessions.take(),
      keepSession: (s, credentials) => {
        // A TLS 1.3 ticket arrives after the handshake, so it can come in after a reload; resuming
        // it would present the previous client certificate again.
        if (credentials !== this.credentials) return;
        this.sessions.keep(s);
      },
      onEstablished: (c) => {
        this.totals.ok++;
        const s = c.snapshot();
        this.lastHandshake = s.handshake;
        this.emit('connectionOpened', s);
      },
      onFailed: (_c, d) => {
        this.failures[d.code] = (this.failures[d.code] ?? 0) + 1;
        this.report(d);
      },
      onBroken: (_c, d) => this.report(d),
      onClosed: (c, d) => {
        this.connections.delete(c);
        const s = c.snapshot();
        this.totals.bytesUp += s.bytesUp;
        this.totals.bytesDown += s.bytesDown;
        this.logger.debug(`#${c.id} closed after ${c.durationMs} ms: ${s.bytesUp} bytes up, ${s.bytesDown} bytes down`);
        this.emit('connectionClosed', s, d);
      },
    };
  }

  private report(d: Diagnosis, log = true): void {
    this.lastDiagnosis = d;
    if (log) this.logger[d.severity === 'error' ? 'error' : d.severity === 'warning' ? 'warn' : 'info'](`${d.summary} ${d.fix}${d.detail ? ` [${d.detail}]` : ''}`);
    this.emit('diagnosis', d);
  }

  private warnAboutClientCertificate(credentials: Credentials): void {
    const leaf = credentials.clientChain[0];
    const warning = leaf && clientValidity(this.config, leaf, 'loaded');
    if (warning) this.report(warning);
  }

  private setState(state: TunnelState): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state);
  }
}

function listenProblem(c: TunnelConfig, e: NodeJS.ErrnoException): Diagnosis {
  const where = formatEndpoint(c.listen);
  switch (e.code) {
    case 'EADDRINUSE':
      return { code: 'PORT_IN_USE', severity: 'error', summary: `Tunnel "${c.name}": port ${c.listen.port} on ${c.listen.host} is already in use.`, fix: `Stop whatever listens on ${where} (another tunnel, stunnel, a local database), or change "listen".`, detail: e.code };
    case 'EACCES':
      return { code: 'LISTEN_DENIED', severity: 'error', summary: `Tunnel "${c.name}": not allowed to listen on ${where}.`, fix: 'Ports below 1024 need privileges; pick a port above 1024 in "listen".', detail: e.code };
    case 'EADDRNOTAVAIL':
      return { code: 'LISTEN_ADDRESS_UNAVAILABLE', severity: 'error', summary: `Tunnel "${c.name}": ${c.listen.host} is not an address of this machine.`, fix: 'Use 127.0.0.1 (or ::1) in "listen".', detail: e.code };
    default:
      return { code: 'UNKNOWN', severity: 'error', summary: `Tunnel "${c.name}": cannot listen on ${where}: ${e.message}.`, fix: 'Check "listen".', detail: e.code };
  }
}
