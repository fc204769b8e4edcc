/**
 * The set of named tunnels. `apply()` takes a freshly parsed configuration and changes only what
 * differs: new tunnels are added (stopped), removed ones are stopped and dropped, changed running
 * ones are restarted, untouched running ones keep their connections.
 */
import { EventEmitter } from 'node:events';
import { TunnelConfig } from './config/model';
import { Diagnosis } from './diagnostics/diagnosis';
import { Logger, silentLogger } from './log';
import { Tunnel, TunnelSnapshot, TunnelStartError, TunnelState } from './tunnel/tunnel';

export interface TunnelEntry {
  config: TunnelConfig;
  state: TunnelState;
  /** Live numbers while running (or the last run's, until it is started again). */
  snapshot?: TunnelSnapshot;
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
  watchCredentials?: boolean;
}

export interface ManagerEvents {
  /** Something about this tunnel changed (state, counters, connections); undefined: the set changed. */
  changed: [string | undefined];
  diagnosis: [string, Diagnosis];
}

interface Slot {
  config: TunnelConfig;
  tunnel?: Tunnel;
  lastDiagnosis?: Diagnosis;
  /** Start or stop under way, so commands issued twice do not race. */
  pending?: Promise<void>;
  /** Desired state: set by start(), cleared by stop(); kept while the tunnel is in error. */
  wanted?: boolean;
}

export class TunnelManager extends EventEmitter<ManagerEvents> {
  private readonly slots = new Map<string, Slot>();
  private disposed = false;

  constructor(private readonly options: ManagerOptions = {}) {
    super();
  }

  apply(configs: TunnelConfig[]): ApplyResult {
    const result: ApplyResult = { added: [], removed: [], changed: [], unchanged: [] };
    const incoming = new Map(configs.map((c) => [c.name, c]));
    for (const [name, slot] of this.slots) {
      if (incoming.has(name)) continue;
      result.removed.push(name);
      this.slots.delete(name);
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
        const wasRunning = isActive(slot.tunnel?.state);
        slot.config = config;
        slot.lastDiagnosis = undefined;
        if (wasRunning) void this.restart(config.name).catch(() => undefined);
      }
    }
    if (result.added.length || result.removed.length || result.changed.length) this.emit('changed', undefined);
    return result;
  }

  names(): string[] {
    return [...this.slots.keys()];
  }

  entries(): TunnelEntry[] {
    return this.names().map((n) => this.entry(n)!);
  }

  entry(name: string): TunnelEntry | undefined {
    const slot = this.slots.get(name);
    if (!slot) return undefined;
    return {
      config: slot.config,
      state: slot.tunnel?.state ?? 'stopped',
      snapshot: slot.tunnel?.snapshot(),
      lastDiagnosis: slot.lastDiagnosis,
      wanted: slot.wanted === true,
    };
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
    await Promise.all([...this.slots.values()].map((s) => this.halt(s)));
  }

  private async launch(slot: Slot): Promise<void> {
    if (this.disposed) throw new Error('the tunnel manager is shut down');
    const config = slot.config;
    const passphrase = this.options.passphraseFor ? await this.options.passphraseFor(config) : config.passphrase;
    const tunnel = new Tunnel(config, {
      logger: this.options.logger ?? silentLogger,
      passphrase: passphrase ?? config.passphrase,
      drainTimeoutMs: this.options.drainTimeoutMs,
      watchCredentials: this.options.watchCredentials,
    });
    slot.tunnel = tunnel;
    slot.lastDiagnosis = undefined;
    const changed = () => this.emit('changed', config.name);
    tunnel.on('state', changed);
    tunnel.on('connectionOpened', changed);
    tunnel.on('connectionClosed', changed);
    tunnel.on('credentialsReloaded', changed);
    tunnel.on('diagnosis', (d) => {
      slot.lastDiagnosis = d;
      this.emit('diagnosis', config.name, d);
      changed();
    });
    await tunnel.start();
  }

  private require(name: string): Slot {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`no tunnel named "${name}"`);
    return slot;
  }
}

function isActive(state: TunnelState | undefined): boolean {
  return state === 'starting' || state === 'running';
}
