/**
 * A named tunnel: one loopback listener and a BridgedConnection per local client. Lifecycle:
 * new → start() → running → stop() (idempotent: every caller gets the same promise; the listener
 * closes at once, open connections get `drainTimeoutMs` to finish, then are cut). A Tunnel is used
 * once; restarting means a new Tunnel.
 *
 * While running, what a new connection is made with (settings, credentials and their
 * SecureContext, protocol) sits behind one reference, `live`, which each connection takes once
 * when it is accepted. A credential reload or a settings change (`reconfigure()`) replaces that
 * reference whole: open connections keep what they started with, new ones get the new. A changed
 * "listen" binds the new address before the old listener closes. If the new credentials or the
 * new address fail, the tunnel keeps running as it was and says why in a warning diagnosis.
 * Reloads and changes run one at a time, in the order asked.
 *
 * Longer than the usual 300 lines on purpose: start, stop, accepting and live changes share one
 * state machine, and every change re-checks after each await the state the lifecycle sets; split
 * across files, those checks would be read apart from the states they guard. Counters live in
 * stats.ts, the listener in listener.ts, each connection in connection.ts.
 */
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { Endpoint, TunnelConfig, TunnelHold, formatEndpoint, formatListen, isSocketPath, ListenAddress } from '../config/model';
import { Diagnosis } from '../diagnostics/diagnosis';
import { Logger, LogLevel, logsAt, prefixedLogger, silentLogger } from '../log';
import { protocolHandler } from '../protocols';
import { formatBytes, formatDuration } from '../units';
import { Credentials, CredentialsError } from '../tls/credentials';
import { ClientIdentity } from '../tls/renewal';
import { CredentialWatcher, CredentialWatchOptions, credentialFiles } from './credentialWatcher';
import { BridgedConnection, ConnectionHost, ConnectionSnapshot, LiveSettings } from './connection';
import { bindListener, boundAddress, closeListener, ListenError, sameEndpoint } from './listener';
import { expectedProtection, Protection, SameUserGate } from './protection';
import { SessionPool } from './sessionPool';
import { TargetBackoff, TargetSet } from './targets';
import { TunnelCounts, TunnelSnapshot, TunnelState, TunnelTally } from './stats';
import { WarmPool, WarmPoolOptions } from './warmPool';

export { TunnelCounts, TunnelSnapshot, TunnelState } from './stats';
export { Protection } from './protection';

/** Starting or running: what Stop and Restart act on, and what Start leaves alone. */
export function isActive(state: TunnelState | undefined): boolean {
  return state === 'starting' || state === 'running';
}

export interface TunnelOptions {
  logger?: Logger;
  /** Passphrase for `key` or `pfx` (from SecretStorage or the environment); never logged. */
  passphrase?: string;
  /** Reload credentials when their files change (default true); options tune how (tests turn events off). */
  watchCredentials?: boolean | CredentialWatchOptions;
  /** How long open connections may finish on stop() before they are cut (default 5000 ms). */
  drainTimeoutMs?: number;
  /** How long a failed target is skipped (default 5 s doubling to 60 s); tests shorten it. */
  targetBackoff?: TargetBackoff;
  /** Run `identityCommand` (default true); false in an untrusted workspace. */
  runIdentityCommands?: boolean;
  /** Bound on one run of `identityCommand` (default 120 s). */
  identityCommandTimeoutMs?: number;
  /** How warm connections back off and tell their age (tests shorten and move them). */
  warmPool?: Pick<WarmPoolOptions, 'backoff' | 'clock' | 'refillWaitMs'>;
}

export interface TunnelEvents {
  state: [TunnelState];
  connectionOpened: [ConnectionSnapshot];
  connectionClosed: [ConnectionSnapshot, Diagnosis | undefined];
  diagnosis: [Diagnosis];
  credentialsReloaded: [string];
  /** New settings apply to new connections (and the new address listens, if "listen" changed). */
  reconfigured: [TunnelConfig];
}

function heldDiagnosis(hold: TunnelHold, severity: 'error' | 'warning', more = ''): Diagnosis {
  return { code: 'NEEDS_CONSENT', severity, summary: hold.summary, fix: hold.fix + more };
}

/** Start failed: the diagnosis names the tunnel, the field and the fix. */
export class TunnelStartError extends Error {
  constructor(readonly diagnosis: Diagnosis, readonly field: string) {
    super(diagnosis.summary);
  }
}

/** `host:port`, or every target and the policy: how the log line at start names where connections go. */
function targetsText(c: TunnelConfig): string {
  if (c.targets.length <= 1) return formatEndpoint(c.target);
  return `${c.targets.map(formatEndpoint).join(', ')} (${c.targetPolicy})`;
}

export class Tunnel extends EventEmitter<TunnelEvents> {
  private _state: TunnelState = 'stopped';
  private server?: net.Server;
  /** The configured endpoint `server` was bound from (not its real port). */
  private bound?: ListenAddress;
  /** Where `server` listens (the real port), read once per bind: entries read it on every event. */
  private listening?: ListenAddress;
  /** What new connections are made with, while running. */
  private live?: LiveSettings;
  /** The latest settings asked for; ahead of `live` while their credentials or address fail. */
  private wanted: TunnelConfig;
  private passphrase?: string;
  private watcher?: CredentialWatcher;
  private watched = '';
  private readonly connections = new Set<BridgedConnection>();
  /** Sessions to resume, one pool per target (a session belongs to the server that issued it). */
  private readonly sessions = new Map<string, SessionPool>();
  /** The targets' order and backoff; kept while "target" and "targetPolicy" stay the same. */
  private targetSet?: TargetSet;
  /** Upstream connections made before their clients come (`warmConnections`), for the current dial. */
  private warm?: WarmPool;
  private readonly logger: Logger;
  private readonly connectionHost: ConnectionHost;
  private readonly tally = new TunnelTally();
  private readonly gate: SameUserGate;
  /** The client certificate over time: renewal, and the check before each dial (tls/renewal.ts). */
  private readonly identity: ClientIdentity;
  /** What the listener was found to be protected by, for the settings it was worked out for. */
  private protection?: { protection: Protection; config: TunnelConfig };
  private lastDiagnosis?: Diagnosis;
  /** The diagnosis of a reload, settings change or rebind that failed: cleared when one succeeds. */
  private standing?: Diagnosis;
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  private used = false;
  /** Reloads and settings changes, one after the other. */
  private changes: Promise<unknown> = Promise.resolve();

  constructor(config: TunnelConfig, private readonly options: TunnelOptions = {}) {
    super();
    this.wanted = config;
    this.passphrase = options.passphrase;
    this.logger = prefixedLogger(options.logger ?? silentLogger, config.name);
    this.connectionHost = this.makeConnectionHost();
    this.gate = new SameUserGate(this.logger, () => this.tally.refusedOtherUser());
    this.identity = new ClientIdentity({
      logger: this.logger,
      config: () => this.wanted,
      passphrase: () => this.passphrase,
      reload: () => this.reloadCredentials(),
      report: (d) => this.report(d),
      commandsAllowed: options.runIdentityCommands !== false,
      timeoutMs: options.identityCommandTimeoutMs,
    });
  }

  get name(): string {
    return this.wanted.name;
  }

  /** The settings new connections are made with (the latest asked for, until running). */
  get config(): TunnelConfig {
    return this.live?.config ?? this.wanted;
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
    const c = this.wanted;
    let credentials: Credentials;
    try {
      if (c.hold) throw new TunnelStartError(heldDiagnosis(c.hold, 'error'), c.hold.field);
      try {
        credentials = await this.identity.load(c, this.passphrase, true);
      } catch (e) {
        if (e instanceof CredentialsError) throw new TunnelStartError(e.diagnosis, e.field);
        throw e;
      }
      try {
        this.server = await bindListener(c, this.logger, (s) => this.accept(s));
        this.listening = boundAddress(this.server);
      } catch (e) {
        if (e instanceof ListenError) throw new TunnelStartError(e.diagnosis, 'listen');
        throw e;
      }
    } catch (e) {
      if (e instanceof TunnelStartError) this.report(e.diagnosis);
      this.setState('error');
      throw e;
    }
    this.bound = c.listen;
    this.live = this.liveSettings(c, credentials);
    this.warmUp();
    const addr = this.listening;
    this.logger.info(`listening on ${addr ? formatListen(addr) : '?'} -> ${targetsText(c)} (${c.protocol}); ${credentials.description}`);
    await this.protect(c);
    this.warnAboutClientCertificate(credentials);
    this.watch(c);
    this.setState('running');
  }

  /** The TCP address the listener is bound to, once running (undefined for a unix socket: see listeningOn). */
  address(): Endpoint | undefined {
    const l = this.listening;
    return l && !isSocketPath(l) ? l : undefined;
  }

  /** Where the listener is, once running: the TCP address (its real port) or the unix socket's path. */
  listeningOn(): ListenAddress | undefined {
    return this.listening;
  }

  /**
   * Re-reads the credential files. Existing connections keep the session they have; new ones use
   * the new credentials. If reloading fails, the last good credentials are kept. False when the
   * tunnel is not running or the reload failed.
   */
  reloadCredentials(): Promise<boolean> {
    return this.serially(() => this.applyWanted('files'));
  }

  /**
   * New settings for new connections; open ones continue with theirs. A changed "listen" is bound
   * before the old listener closes. Resolves false (the tunnel keeps running as it was, with a
   * warning diagnosis) when the new credentials do not load or the new address cannot be bound;
   * the credential files stay watched, so fixing them applies the settings then.
   */
  reconfigure(config: TunnelConfig, passphrase = this.passphrase): Promise<boolean> {
    if (config.name !== this.name) return Promise.reject(new Error(`tunnel "${this.name}" cannot become "${config.name}"`));
    this.wanted = config;
    this.passphrase = passphrase;
    return this.serially(() => this.applyWanted('settings'));
  }

  private serially(work: () => Promise<boolean>): Promise<boolean> {
    const run = this.changes.then(work, work);
    this.changes = run.catch(() => undefined);
    return run;
  }

  /** `onDisk`: the watcher saw the files change (not an explicit reload): the same bytes again are no change. */
  private async applyWanted(why: 'files' | 'settings', onDisk = false): Promise<boolean> {
    if (this._state === 'starting') await this.starting?.catch(() => undefined);
    if (this._state !== 'running') return false;
    const config = this.wanted;
    if (config.hold) {
      // Settings that wait for consent do not reach a running tunnel either: it stays as it was.
      this.fallBack(heldDiagnosis(config.hold, 'warning', ' Until then the tunnel keeps running with its previous settings.'));
      return false;
    }
    let credentials: Credentials;
    try {
      // Files that just changed may be a renewal half written (the cert before the key): tried
      // again briefly before a failure is the user's.
      credentials = await this.identity.load(config, this.passphrase, why === 'settings', why === 'files' ? {
        wanted: () => this._state === 'running',
        onWait: (d, ms) => this.logger.debug(`the credential files do not load yet (${d.code}), perhaps a renewal half written: trying again in ${ms} ms`),
      } : undefined);
    } catch (e) {
      if (!(e instanceof CredentialsError)) throw e;
      // Stopped while reading: nothing to keep, nothing to say.
      if (this._state !== 'running') return false;
      const keeps = why === 'files' ? 'the credentials loaded before' : 'its previous settings and credentials';
      this.fallBack({ ...e.diagnosis, severity: 'warning', fix: `${e.diagnosis.fix} Until then the tunnel keeps using ${keeps}.` });
      this.watch(config);
      return false;
    }
    if (this._state !== 'running') return false;
    if (onDisk && this.live && this.live.config === config && this.live.credentials.digest === credentials.digest) {
      // The same bytes as the credentials in use: a renewal already taken (a retry that read the
      // second half of a pair before that half's own event arrived), or a file only touched.
      this.logger.debug('the credential files changed on disk but hold the credentials already in use');
      this.clearStanding();
      return true;
    }
    this.live = this.liveSettings(config, credentials);
    this.sessions.clear();
    this.warmUp();
    this.watch(config);
    this.clearStanding();
    if (why === 'files') this.logger.info(`credentials reloaded: ${credentials.description}`);
    this.warnAboutClientCertificate(credentials);
    const listening = sameEndpoint(config.listen, this.bound) || (await this.rebind(config));
    if (this._state !== 'running') return false;
    await this.protect(config);
    if (this._state !== 'running') return false;
    if (why === 'files') this.emit('credentialsReloaded', credentials.description);
    else {
      this.logger.info(`settings applied to new connections (${this.connections.size} open continue); ${credentials.description}`);
      this.emit('reconfigured', config);
    }
    return listening;
  }

  /** Listens on the new address, then closes the old listener; open connections are not touched. */
  private async rebind(config: TunnelConfig): Promise<boolean> {
    const before = this.listening;
    let server: net.Server;
    try {
      server = await bindListener(config, this.logger, (s) => this.accept(s));
    } catch (e) {
      if (!(e instanceof ListenError)) throw e;
      if (this._state === 'running') {
        this.fallBack({ ...e.diagnosis, severity: 'warning', fix: `${e.diagnosis.fix} Until then the tunnel keeps listening on ${before ? formatListen(before) : 'its previous address'}.` });
      }
      return false;
    }
    if (this._state !== 'running') {
      closeListener(server);
      return false;
    }
    const old = this.server;
    this.server = server;
    this.listening = boundAddress(server);
    this.bound = config.listen;
    if (old) closeListener(old);
    this.logger.info(`listening on ${formatListen(this.listening!)} instead of ${before ? formatListen(before) : '?'}`);
    return true;
  }

  stop(): Promise<void> {
    // Once stopping, nothing moves the state back: a later start() is refused.
    this.used = true;
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** What new connections are made with; the target set (and its backoff) survives a change that leaves the targets alone. */
  private liveSettings(config: TunnelConfig, credentials: Credentials): LiveSettings {
    if (!this.targetSet || TargetSet.keyOf(config) !== this.targetSet.key) {
      this.targetSet = new TargetSet(config.targets, config.targetPolicy, this.options.targetBackoff);
    }
    return { config, credentials, protocol: protocolHandler(config.protocol), targets: this.targetSet };
  }

  /** Counters only, without visiting the open connections. */
  counts(): TunnelCounts {
    return {
      state: this._state,
      listening: this.listening,
      openConnections: this.connections.size,
      ...this.tally.counts(),
      protection: this.protection?.protection,
      lastDiagnosis: this.lastDiagnosis,
      credentials: this.live?.credentials.description,
      ...(this.targetSet && this.targetSet.targets.length > 1 ? { targets: this.targetSet.standings() } : {}),
      identity: this.live ? this.identity.status() : undefined,
      ...(this.warm ? { warm: this.warm.counts() } : {}),
    };
  }

  snapshot(): TunnelSnapshot {
    const connections = [...this.connections].map((c) => c.snapshot());
    return {
      name: this.name,
      ...this.counts(),
      ...this.tally.bytes(connections),
      connections,
    };
  }

  /** The last diagnosis reported (a failure, a warning), unless a later success cleared it. */
  get diagnosis(): Diagnosis | undefined {
    return this.lastDiagnosis;
  }

  /** The client certificate new connections present, from PEM files or a PKCS#12 bundle (metrics, health). */
  get clientCertificate(): X509Certificate | undefined {
    return this.live?.credentials.leaf;
  }

  private async doStop(): Promise<void> {
    // stop() during start(): let the start finish (or fail) first, so its listener is closed too.
    if (this._state === 'starting') await this.starting?.catch(() => undefined);
    if (this._state === 'stopped' || this._state === 'error') {
      this.setState('stopped');
      return;
    }
    this.setState('stopping');
    this.warm?.close();
    this.warm = undefined;
    this.watcher?.dispose();
    this.identity.dispose();
    const server = this.server;
    this.listening = undefined;
    const closed = new Promise<void>((resolve) => (server ? closeListener(server, resolve) : resolve()));
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

  /** Watches the files of the latest settings (rebuilt only when that set changes). */
  private watch(config: TunnelConfig): void {
    if (this.options.watchCredentials === false) return;
    const files = credentialFiles(config);
    const key = files.join('\n');
    if (this.watcher && key === this.watched) return;
    this.watcher?.dispose();
    this.watched = key;
    this.watcher = new CredentialWatcher(files, () => {
      // A reload that throws something unexpected must not become an unhandled rejection (which
      // ends the CLI's process): it is logged, and the tunnel keeps what it has.
      this.serially(() => this.applyWanted('files', true)).catch((e: Error) => {
        try {
          this.logger.error(`reloading the credentials failed: ${e.message}`);
        } catch {
          // The log itself is gone (a closed output channel): nothing left to tell.
        }
      });
    }, typeof this.options.watchCredentials === 'object' ? this.options.watchCredentials : {});
  }

  /**
   * Works out what protects the listener for these settings (the same-user check only where the
   * kernel lists our own listener) and says it in the log when it changes: a tunnel nobody is
   * kept off of says so instead of pretending.
   */
  private async protect(config: TunnelConfig): Promise<void> {
    const protection = this.server ? await SameUserGate.protectionFor(config, this.server) : expectedProtection(config);
    const before = this.protection?.protection;
    this.protection = { protection, config };
    if (before?.kind === protection.kind && before.reason === protection.reason) return;
    if (protection.kind === 'none') this.logger.warn(`not protected from other local users: ${protection.reason}`);
    else this.logger.info(`protection: ${protection.reason}`);
  }

  private accept(socket: net.Socket): void {
    if (this._state !== 'running' || !this.live) {
      socket.destroy();
      return;
    }
    // Until the listener has been looked at for the current settings, what they ask for applies
    // (a brand-new address may refuse a few too many for a moment, never let one too many in).
    const config = this.live.config;
    const protection = this.protection?.config === config ? this.protection.protection : expectedProtection(config);
    if (protection.kind !== 'same-user') return this.bridgeWithIdentity(socket);
    // Paused and not yet bridged: a reset while its owner is looked up must not go unhandled.
    const ignore = () => undefined;
    socket.on('error', ignore);
    this.gate.admit(socket).then(
      (verdict) => {
        socket.off('error', ignore);
        // Refused before any upstream dial: nothing of the tunnel's reaches that process.
        if (verdict === 'allowed' && !socket.destroyed && this._state === 'running' && this.live) return this.bridgeWithIdentity(socket);
        if (verdict === 'gone') {
          // Accepted and counted, but closed unbridged: whoever made it closed it before it was checked.
          const id = this.tally.accepted();
          if (logsAt(this.logger, LogLevel.Debug)) this.logger.debug(`#${id} closed by its client before its owner could be checked`);
        }
        socket.destroy();
      },
      () => socket.destroy(),
    );
  }

  /**
   * Never presents an expired certificate: once it has expired, it is renewed (or the files read
   * again) before this dial; if that fails, the connection is refused with the dates, undialled.
   */
  private bridgeWithIdentity(socket: net.Socket): void {
    const renewing = this.identity.beforeDial();
    if (!renewing) return this.bridge(socket);
    this.logger.info('the client certificate has expired: a new connection waits for a renewed one before dialling');
    const ignore = () => undefined;
    socket.on('error', ignore);
    renewing.then(
      (valid) => {
        socket.off('error', ignore);
        if (socket.destroyed || this._state !== 'running' || !this.live) return socket.destroy();
        const refusal = valid ? undefined : this.identity.expiredDiagnosis(this.live.config);
        this.bridge(socket, refusal);
      },
      () => socket.destroy(),
    );
  }

  private bridge(socket: net.Socket, refusal?: Diagnosis): void {
    if (!this.live) return;
    const max = this.live.config.maxConnections;
    if (max > 0 && this.connections.size >= max) {
      this.logger.warn(`refused ${socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'a unix-socket client'}: ${max} connections open (maxConnections)`);
      socket.destroy();
      return;
    }
    const id = this.tally.accepted();
    if (logsAt(this.logger, LogLevel.Info)) this.logger.info(`#${id} opened from ${socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'the unix socket'}`);
    // Only now, past the same-user check and the identity's dates, may a warm connection serve it.
    const warm = refusal ? undefined : this.warm?.take();
    const connection = new BridgedConnection(id, socket, this.live, this.connectionHost, warm);
    this.connections.add(connection);
    if (refusal) connection.refuse(refusal);
    else connection.start();
  }

  /**
   * After `live` changed: warm connections made for another dial (credentials, target,
   * verification…) are closed, never handed out; a change that leaves the dial alone keeps them.
   */
  private warmUp(): void {
    const live = this.live!;
    if (this.warm && this.warm.key === WarmPool.keyOf(live)) return this.warm.adopt(live);
    this.warm?.close();
    this.warm = live.config.warmConnections > 0
      ? new WarmPool(live, this.connectionHost, { ...this.options.warmPool, canDial: () => this.identityValid() })
      : undefined;
  }

  /** An expired client certificate is never presented, not even to warm a connection. */
  private identityValid(): boolean {
    const s = this.identity.status();
    return !s || Date.now() < s.validTo;
  }

  private makeConnectionHost(): ConnectionHost {
    return {
      logger: this.logger,
      takeSession: (index) => (this.live ? this.sessions.get(this.sessionKey(index))?.take(this.live.config.resumption) : undefined),
      keepSession: (s, live, index) => {
        // A TLS 1.3 ticket arrives after the handshake, so it can come in after a reload; resuming
        // it would present the previous client certificate (or reach the previous target) again.
        if (live !== this.live) return;
        const key = this.sessionKey(index);
        let pool = this.sessions.get(key);
        if (!pool) this.sessions.set(key, (pool = new SessionPool()));
        pool.keep(s, live.config.resumption);
      },
      onEstablished: (c) => {
        const s = c.snapshot();
        this.tally.established(s.handshake);
        this.emit('connectionOpened', s);
      },
      onFailed: (_c, d) => {
        this.tally.failed(d.code);
        this.report(d);
      },
      onBroken: (_c, d) => this.report(d),
      onClosed: (c, d) => {
        this.connections.delete(c);
        const s = c.snapshot();
        this.tally.closed(s);
        if (logsAt(this.logger, LogLevel.Info)) {
          // Counts only: never a payload byte. A failed connection names its diagnosis, said above.
          this.logger.info(`#${c.id} closed after ${formatDuration(c.durationMs)}: ${formatBytes(s.bytesUp)} up, ${formatBytes(s.bytesDown)} down${d ? ` (${d.code})` : ''}`);
        }
        this.emit('connectionClosed', s, d);
      },
    };
  }

  private sessionKey(index: number): string {
    const t = this.live?.config.targets[index];
    return t ? `${formatEndpoint(t)} ${t.serverName}` : '';
  }

  private report(d: Diagnosis): void {
    this.lastDiagnosis = d;
    this.logger[d.severity === 'error' ? 'error' : d.severity === 'warning' ? 'warn' : 'info'](`${d.summary} ${d.fix}${d.detail ? ` [${d.detail}]` : ''}`);
    this.emit('diagnosis', d);
  }

  private fallBack(d: Diagnosis): void {
    this.standing = d;
    this.report(d);
  }

  /** A reload or change worked: its earlier failure is no longer the latest word. */
  private clearStanding(): void {
    if (!this.standing) return;
    if (this.lastDiagnosis === this.standing) this.lastDiagnosis = undefined;
    this.standing = undefined;
  }

  private warnAboutClientCertificate(credentials: Credentials): void {
    const leaf = credentials.leaf;
    const warning = leaf && this.identity.loadedWarning(this.live?.config ?? this.wanted, leaf);
    if (warning) this.report(warning);
  }

  private setState(state: TunnelState): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state);
  }
}
