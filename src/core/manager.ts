/**
 * The set of named tunnels. `apply()` takes a freshly parsed configuration and changes only what
 * differs: new tunnels are added (stopped), removed ones are stopped and dropped, changed running
 * ones take the new settings for new connections while open ones continue (Tunnel.reconfigure),
 * untouched ones are left alone. Only stop(), restart() and removal cut connections.
 *
 * Desired state: start() marks a tunnel wanted, stop() clears it, shutdown keeps it. A wanted
 * tunnel in error (its start failed) is started again when its settings change or one of its
 * credential files changes on disk; a success then clears the failure.
 */
import { EventEmitter } from 'node:events';
import { ListenAddress, TunnelConfig } from './config/model';
import { Diagnosis } from './diagnostics/diagnosis';
import { Logger, silentLogger } from './log';
import { CredentialWatcher, CredentialWatchOptions, credentialFiles } from './tunnel/credentialWatcher';
import { isActive, Tunnel, TunnelCounts, TunnelSnapshot, TunnelStartError, TunnelState } from './tunnel/tunnel';

export interface TunnelEntry {
  config: TunnelConfig;
  state: TunnelState;
  /** Where clients connect: the bound address while running (the real port when "listen" is 0), else the configured one. */
  address: ListenAddress;
  /** Counters without visiting each connection: cheap enough to read on every 'changed' event. */
  counts?: TunnelCounts;
  /**
   * Live numbers with every open connection (or the last run's, until it is started again). Built
   * when first read, since it visits every connection: read it where the connections are shown.
   */
  readonly snapshot?: TunnelSnapshot;
  lastDiagnosis?: Diagnosis;
  /** The user asked for this tunnel to run (start/restart) and has not stopped it since. */
  wanted: boolean;
}

export interface ApplyResult {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

export interface ManagerOptions {
  logger?: Logger;
  /** Supplies a passphrase for tunnels whose key or pfx needs one (SecretStorage, a prompt). */
  passphraseFor?: (config: TunnelConfig) => Promise<string | undefined>;
  drainTimeoutMs?: number;
  watchCredentials?: boolean | CredentialWatchOptions;
  /** Whether a tunnel's `identityCommand` may run, asked at each start (false: an untrusted workspace). */
  runIdentityCommands?: () => boolean;
}

export interface ManagerEvents {
  /** Something about this tunnel changed (state, counters, connections); undefined: the set changed. */
  changed: [string | undefined];
  diagnosis: [string, Diagnosis];
}

interface Slot {
  config: TunnelConfig;
  tunnel?: Tunnel;
  /** Start or stop under way, so commands issued twice do not race. */
  pending?: Promise<void>;
  /** Desired state: set by start(), cleared by stop(); kept while the tunnel is in error. */
  wanted?: boolean;
  /** While a wanted tunnel is in error: its credential files, to start it again once they change. */
  retry?: CredentialWatcher;
}

export class TunnelManager extends EventEmitter<ManagerEvents> {
  private readonly slots = new Map<string, Slot>();
  private disposed = false;
  private readonly logger: Logger;

  constructor(private readonly options: ManagerOptions = {}) {
    super();
    this.logger = options.logger ?? silentLogger;
  }

  apply(configs: TunnelConfig[]): ApplyResult {
    const result: ApplyResult = { added: [], removed: [], changed: [], unchanged: [] };
    const incoming = new Map(configs.map((c) => [c.name, c]));
    for (const [name, slot] of this.slots) {
      if (incoming.has(name)) continue;
      result.removed.push(name);
      this.slots.delete(name);
      slot.retry?.dispose();
      void slot.tunnel?.stop();
    }
    for (const config of configs) {
      const slot = this.slots.get(config.name);
      if (!slot) {
        this.slots.set(config.name, { config });
        result.added.push(config.name);
      } else if (JSON.stringify(slot.config) === JSON.stringify(config)) {
        result.unchanged.push(config.name);
      } else {
        result.changed.push(config.name);
        slot.config = config;
        // A stopped tunnel's last run (its numbers, its failure) belonged to the old settings.
        if (!slot.wanted && (slot.tunnel?.state === 'stopped' || slot.tunnel?.state === 'error')) slot.tunnel = undefined;
        this.reconcile(slot);
      }
    }
    if (result.added.length || result.removed.length || result.changed.length) this.emit('changed', undefined);
    return result;
  }

  names(): string[] {
    return [...this.slots.keys()];
  }

  /** Every tunnel, cheaply: no connection is visited unless an entry's `snapshot` is read. */
  entries(): TunnelEntry[] {
    return this.names().map((n) => this.entry(n)!);
  }

  entry(name: string): TunnelEntry | undefined {
    const slot = this.slots.get(name);
    if (!slot) return undefined;
    const tunnel = slot.tunnel;
    const state = tunnel?.state ?? 'stopped';
    const address = (state === 'running' && tunnel?.listeningOn()) || slot.config.listen;
    let snapshot: TunnelSnapshot | undefined;
    const entry = {
      config: slot.config,
      state,
      address,
      counts: tunnel?.counts(),
      lastDiagnosis: tunnel?.diagnosis,
      wanted: slot.wanted === true,
    };
    return Object.defineProperty(entry, 'snapshot', {
      enumerable: true,
      get: () => (tunnel ? (snapshot ??= tunnel.snapshot()) : undefined),
    }) as TunnelEntry;
  }

  /** The tunnels the user wants running (started and not stopped since), whatever their state. */
  wantedNames(): string[] {
    return [...this.slots].filter(([, s]) => s.wanted).map(([n]) => n);
  }

  /** The running Tunnel object, for callers that need its events or address. */
  tunnel(name: string): Tunnel | undefined {
    return this.slots.get(name)?.tunnel;
  }

  /** Starts a tunnel; rejects with TunnelStartError (already recorded as its last diagnosis). */
  async start(name: string): Promise<void> {
    const slot = this.require(name);
    if (!slot.wanted) {
      slot.wanted = true;
      this.emit('changed', name);
    }
    if (slot.pending) await slot.pending.catch(() => undefined);
    if (isActive(slot.tunnel?.state)) return;
    const run = this.launch(slot);
    const settled: Promise<void> = run.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (slot.pending === settled) slot.pending = undefined;
    });
    slot.pending = settled;
    return run;
  }

  async stop(name: string): Promise<void> {
    const slot = this.require(name);
    slot.retry?.dispose();
    slot.retry = undefined;
    if (slot.wanted) {
      slot.wanted = false;
      this.emit('changed', name);
    }
    await this.halt(slot);
  }

  /** Stops a tunnel without changing what the user wants (shutdown keeps the desired state). */
  private async halt(slot: Slot): Promise<void> {
    if (slot.pending) await slot.pending.catch(() => undefined);
    await slot.tunnel?.stop();
  }

  async restart(name: string): Promise<void> {
    await this.stop(name);
    await this.start(name);
  }

  /** Starts every named tunnel (all when none named); resolves with the failures. */
  async startAll(names = this.names()): Promise<Map<string, TunnelStartError | Error>> {
    const failures = new Map<string, TunnelStartError | Error>();
    await Promise.all(names.map((n) => this.start(n).catch((e: Error) => failures.set(n, e))));
    return failures;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.names().map((n) => this.stop(n)));
  }

  /** Stops everything and refuses further starts: the extension is deactivating. */
  async dispose(): Promise<void> {
    // Listeners go first: the desired state survives shutdown, so a reload can restore it.
    this.disposed = true;
    this.removeAllListeners();
    for (const slot of this.slots.values()) slot.retry?.dispose();
    await Promise.all([...this.slots.values()].map((s) => this.halt(s)));
  }

  /**
   * Brings a tunnel whose settings changed in line with them: a running one takes them for new
   * connections; a wanted one in error is started again. Failures become its diagnosis.
   */
  private reconcile(slot: Slot): void {
    const name = slot.config.name;
    const work = async () => {
      if (slot.pending) await slot.pending.catch(() => undefined);
      if (this.disposed || this.slots.get(name) !== slot) return;
      const tunnel = slot.tunnel;
      if (tunnel && isActive(tunnel.state)) {
        const passphrase = await this.passphraseFor(slot.config);
        await tunnel.reconfigure(slot.config, passphrase);
        this.emit('changed', name);
      } else if (slot.wanted) {
        await this.start(name);
      }
    };
    work().catch((e: Error) => {
      // A start failure is the tunnel's diagnosis already; anything else still deserves a line.
      if (!(e instanceof TunnelStartError)) this.logger.error(`[${name}] applying the changed settings failed: ${e.message}`);
    });
  }

  private async passphraseFor(config: TunnelConfig): Promise<string | undefined> {
    const p = this.options.passphraseFor ? await this.options.passphraseFor(config) : config.passphrase;
    return p ?? config.passphrase;
  }

  private async launch(slot: Slot): Promise<void> {
    if (this.disposed) throw new Error('the tunnel manager is shut down');
    slot.retry?.dispose();
    slot.retry = undefined;
    const config = slot.config;
    const passphrase = await this.passphraseFor(config);
    const tunnel = new Tunnel(config, {
      logger: this.logger,
      passphrase,
      drainTimeoutMs: this.options.drainTimeoutMs,
      watchCredentials: this.options.watchCredentials,
      runIdentityCommands: this.options.runIdentityCommands?.() ?? true,
    });
    slot.tunnel = tunnel;
    const changed = () => this.emit('changed', config.name);
    tunnel.on('state', changed);
    tunnel.on('connectionOpened', changed);
    tunnel.on('connectionClosed', changed);
    tunnel.on('credentialsReloaded', changed);
    tunnel.on('reconfigured', changed);
    tunnel.on('diagnosis', (d) => {
      this.emit('diagnosis', config.name, d);
      changed();
    });
    try {
      await tunnel.start();
    } catch (e) {
      this.watchForFix(slot, tunnel);
      throw e;
    }
  }

  /** A wanted tunnel whose start failed is tried again when one of its credential files changes. */
  private watchForFix(slot: Slot, failed: Tunnel): void {
    if (this.options.watchCredentials === false || this.disposed || !slot.wanted) return;
    slot.retry = new CredentialWatcher(credentialFiles(slot.config), () => {
      if (!slot.wanted || slot.tunnel !== failed || failed.state !== 'error' || this.slots.get(slot.config.name) !== slot) return;
      this.start(slot.config.name).catch(() => undefined); // a second failure is its diagnosis
    }, typeof this.options.watchCredentials === 'object' ? this.options.watchCredentials : {});
  }

  private require(name: string): Slot {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`no tunnel named "${name}"`);
    return slot;
  }
}
