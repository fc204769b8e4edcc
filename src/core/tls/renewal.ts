/**
 * A tunnel's client identity over time: which certificate new connections present, when it
 * must be renewed, and the renewal itself. With an `identityCommand` the command runs when the
 * tunnel starts and the certificate is missing, unreadable, expired or inside its renewal window,
 * and again when the window opens; a failure keeps the last good identity while it is valid and
 * is retried, 10 s doubling to 5 min. Without one, an expired certificate only makes the files be
 * read again (someone else renews them).
 *
 * Before each dial the tunnel asks `beforeDial()`: a comparison with a cached timestamp while the
 * certificate is valid; once it has expired (a laptop that slept through its renewal), a renewal
 * first, and the connection is refused without dialling only if that fails. A wall-clock jump
 * (clockJump.ts) makes every identity look again at once. The words for all this are in
 * renewalWords.ts and diagnostics/identityCommand.ts; the command itself in identityCommand.ts.
 * A little over 300 lines: loading, scheduling, renewing and the check before the dial share the
 * same few timestamps, read best together.
 */
import { X509Certificate } from 'node:crypto';
import * as os from 'node:os';
import { renewalLead } from '../config/renewal';
import { TunnelConfig } from '../config/model';
import { clientValidity } from '../diagnostics/clientValidity';
import { Diagnosis } from '../diagnostics/diagnosis';
import { IdentityCommandFailure, identityCommandDiagnosis } from '../diagnostics/identityCommand';
import { Logger } from '../log';
import { onClockJump } from './clockJump';
import { Credentials, CredentialsError, SettleOptions, SuppliedIdentity, loadCredentials, loadSettledCredentials } from './credentials';
import { identityFromOutput, runIdentityCommand } from './identityCommand';
import { expiryWarning } from './renewalWords';

const FIRST_RETRY_MS = 10_000;
const MAX_RETRY_MS = 5 * 60_000;
/** However the window is set, a renewal that just worked is not run again sooner than this. */
const MIN_RENEWAL_GAP_MS = 2000;
/** Node timers hold at most 2^31-1 ms; a later renewal is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const OUTPUT_SOURCE = 'the output of identityCommand';

export interface IdentityHost {
  logger: Logger;
  /** The latest settings and passphrase of the tunnel. */
  config(): TunnelConfig;
  passphrase(): string | undefined;
  /** Makes the running tunnel load its identity again (through `load`); true when new connections use it. */
  reload(): Promise<boolean>;
  report(d: Diagnosis): void;
  /** False in an untrusted workspace: the command is never run. */
  commandsAllowed: boolean;
  timeoutMs?: number;
}

/** What the tree, the status bar and the log say about the identity new connections present. */
export interface IdentityStatus {
  /** The certificate's subject, one line (`CN=alice`). */
  subject: string;
  validFrom: number;
  validTo: number;
  /** When the renewal window opens (or opened). */
  renewAt: number;
  /** `command`: identityCommand renews it; `files`: only a new file on disk does. */
  renewedBy: 'command' | 'files';
  /** Where it came from: the files, or the command's output (in memory only). */
  source: 'files' | 'command output';
  /** The renewal's failure, while the last good identity is kept. */
  failure?: Diagnosis;
}

type Outcome = { credentials: Credentials } | { failure: IdentityCommandFailure };

export class ClientIdentity {
  /** The PEM the command printed last (memory only); undefined: the files are the identity. */
  private supplied?: SuppliedIdentity;
  /** The settings the identity belongs to (command, files, window), to start over when they change. */
  private key?: string;
  private leaf?: X509Certificate;
  private validFrom?: number;
  private validTo?: number;
  private timer?: NodeJS.Timeout;
  private renewing?: Promise<boolean>;
  private failures = 0;
  private lastFailureAt = 0;
  private lastSuccessAt = 0;
  private failure?: Diagnosis;
  private stopWatchingClock?: () => void;
  private disposed = false;
  /** Stops a command still running when the tunnel stops. */
  private readonly abort = new AbortController();

  constructor(private readonly host: IdentityHost) {}

  /**
   * The credentials for `config`. With `mayRun` (a start, or settings that changed the identity)
   * the command runs first when the certificate is missing, unreadable, expired or inside its
   * window; otherwise the current identity (the command's last output, or the files) is read.
   * Throws CredentialsError (field `identityCommand` when the command is why).
   */
  async load(config: TunnelConfig, passphrase: string | undefined, mayRun: boolean, settle?: SettleOptions): Promise<Credentials> {
    const key = JSON.stringify([config.identityCommand, config.cert, config.key, config.renewBefore]);
    if (key !== this.key) {
      this.key = key;
      this.supplied = undefined;
      this.failures = 0;
      this.failure = undefined;
      mayRun = true;
    }
    let credentials: Credentials | undefined;
    let problem: CredentialsError | undefined;
    try {
      // `settle`: files that just changed, perhaps half written (credentials.ts, loadSettledCredentials).
      credentials = settle && !this.supplied ? await loadSettledCredentials(config, passphrase, settle) : await loadCredentials(config, passphrase, this.supplied);
    } catch (e) {
      if (!(e instanceof CredentialsError)) throw e;
      problem = e;
    }
    const leaf = credentials?.clientChain[0];
    if (!mayRun || !this.runs(config) || (leaf && !this.due(config, leaf))) {
      if (problem) throw problem;
      this.track(credentials!);
      return credentials!;
    }
    this.host.logger.info(`running identityCommand: ${problem ? `the client certificate cannot be used (${problem.diagnosis.code})` : Date.now() >= Date.parse(leaf!.validTo) ? 'the client certificate has expired' : 'the client certificate is inside its renewal window'}`);
    const outcome = await this.runCommand(config, passphrase);
    if ('credentials' in outcome) {
      this.succeeded();
      this.track(outcome.credentials);
      return outcome.credentials;
    }
    if (credentials && leaf && Date.now() < Date.parse(leaf.validTo)) {
      this.track(credentials);
      this.failed(outcome.failure);
      return credentials;
    }
    throw new CredentialsError(identityCommandDiagnosis(config.name, outcome.failure), 'identityCommand');
  }

  /** Undefined while the identity is valid (the cheap case); else a renewal first: true when it is valid now. */
  beforeDial(): Promise<boolean> | undefined {
    if (this.validTo === undefined || Date.now() < this.validTo) return undefined;
    if (this.renewing) return this.renewing.then(() => this.valid());
    // Just failed: refuse at once rather than run the command (or read the files) per connection.
    if (this.failures > 0 && Date.now() - this.lastFailureAt < this.retryDelay()) return Promise.resolve(false);
    return this.renew('the client certificate has expired').then(() => this.valid());
  }

  /** The refusal when the identity has expired and could not be renewed: the expired-certificate diagnosis with its dates. */
  expiredDiagnosis(config: TunnelConfig): Diagnosis | undefined {
    const leaf = this.leaf;
    const base = leaf && clientValidity(config, leaf, 'refused');
    if (!base || !leaf) return undefined;
    const renewal = this.failure ? ` Renewing it failed: ${this.failure.summary}` : '';
    return {
      ...base,
      summary: `${base.summary.replace(/\.$/, '')}; the connection was refused without contacting the server.`,
      fix: this.runs(config) ? `identityCommand has to renew it.${renewal}` : base.fix,
      detail: `valid from ${new Date(leaf.validFrom).toISOString()} to ${new Date(leaf.validTo).toISOString()}`,
    };
  }

  /** The warning a certificate just loaded deserves (renewalWords.ts): expired, or close to its end and who renews it. */
  loadedWarning(config: TunnelConfig, leaf: X509Certificate): Diagnosis | undefined {
    return expiryWarning(config, leaf, this.runs(config), this.due(config, leaf));
  }

  status(): IdentityStatus | undefined {
    if (this.validFrom === undefined || this.validTo === undefined) return undefined;
    const config = this.host.config();
    return {
      subject: this.leaf?.subject.replace(/\n/g, ', ') ?? '',
      validFrom: this.validFrom,
      validTo: this.validTo,
      renewAt: this.renewAt(config),
      renewedBy: this.runs(config) ? 'command' : 'files',
      source: this.supplied ? 'command output' : 'files',
      failure: this.failure,
    };
  }

  dispose(): void {
    this.disposed = true;
    this.abort.abort();
    clearTimeout(this.timer);
    this.stopWatchingClock?.();
  }

  private runs(config: TunnelConfig): boolean {
    return config.identityCommand !== undefined && this.host.commandsAllowed;
  }

  private valid(): boolean {
    return this.validTo !== undefined && Date.now() < this.validTo;
  }

  private renewAt(config: TunnelConfig): number {
    return this.validTo! - renewalLead(config.renewBefore, this.validFrom!, this.validTo!);
  }

  private due(config: TunnelConfig, leaf: X509Certificate): boolean {
    const from = Date.parse(leaf.validFrom);
    const to = Date.parse(leaf.validTo);
    return Date.now() >= to - renewalLead(config.renewBefore, from, to);
  }

  /** The identity new connections will use: its dates, and the next renewal. */
  private track(credentials: Credentials): void {
    const leaf = credentials.clientChain[0];
    this.leaf = leaf;
    this.validFrom = leaf ? Date.parse(leaf.validFrom) : undefined;
    this.validTo = leaf ? Date.parse(leaf.validTo) : undefined;
    if (leaf && !this.disposed) this.stopWatchingClock ??= onClockJump((jump) => this.onClockJump(jump));
    this.schedule();
  }

  private retryDelay(): number {
    return Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, this.failures - 1), MAX_RETRY_MS);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const config = this.host.config();
    if (this.disposed || this.validTo === undefined || !this.runs(config)) return;
    const at = this.failures > 0 ? this.lastFailureAt + this.retryDelay() : Math.max(this.renewAt(config), this.lastSuccessAt + MIN_RENEWAL_GAP_MS);
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (Date.now() < at) return this.schedule();
      void this.renew(this.failures > 0 ? 'trying again' : 'the renewal window has opened');
    }, delay);
    this.timer.unref();
  }

  /** One renewal at a time: the command (or, without one, the files) then the tunnel loads it. */
  private renew(why: string): Promise<boolean> {
    this.renewing ??= (async () => {
      const config = this.host.config();
      if (this.runs(config)) {
        this.host.logger.info(`running identityCommand: ${why}`);
        const outcome = await this.runCommand(config, this.host.passphrase());
        if (this.disposed) return false;
        if ('failure' in outcome) {
          this.failed(outcome.failure);
          return false;
        }
      }
      const ok = await this.host.reload();
      if (this.disposed) return false;
      if (ok && this.valid()) {
        this.succeeded();
        this.schedule();
      } else if (!this.runs(config)) {
        // Files that are still expired: look again only after a while.
        this.failures += 1;
        this.lastFailureAt = Date.now();
      }
      return ok;
    })().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  /** Runs the command and checks what it left; on success `supplied` holds its output (or nothing: the files). */
  private async runCommand(config: TunnelConfig, passphrase: string | undefined): Promise<Outcome> {
    const result = await runIdentityCommand({
      command: config.identityCommand!,
      tunnel: config.name,
      certFile: config.cert,
      keyFile: config.key,
      // The workspace folder (the config file's in the CLI); user settings without a folder: home.
      cwd: config.folder ?? os.homedir(),
      timeoutMs: this.host.timeoutMs,
      signal: this.abort.signal,
    });
    if (result.kind !== 'exited') return { failure: result };
    if (result.code !== 0) return { failure: { kind: 'exited', code: result.code, signal: result.signal, stderrTail: result.stderrTail } };
    const identity = identityFromOutput(result.stdout, result.tooMuchOutput);
    if (identity.kind === 'unusable') return { failure: { kind: 'unusable', why: identity.why, stderrTail: result.stderrTail } };
    const supplied = identity.kind === 'pem' ? { cert: identity.cert, key: identity.key, source: OUTPUT_SOURCE } : undefined;
    let credentials: Credentials;
    try {
      credentials = await loadCredentials(config, passphrase, supplied);
    } catch (e) {
      if (!(e instanceof CredentialsError)) throw e;
      const what = e.diagnosis.summary.replace(/^Tunnel "[^"]*": /, '').replace(/\.$/, '');
      return { failure: { kind: 'unusable', why: supplied ? `what it printed cannot be used (${e.diagnosis.code}: ${what.replaceAll(OUTPUT_SOURCE, 'its output')})` : `printed nothing, and the files cannot be used: ${what}`, stderrTail: result.stderrTail } };
    }
    const leaf = credentials.clientChain[0];
    if (leaf && Date.now() >= Date.parse(leaf.validTo)) {
      return { failure: { kind: 'unusable', why: `${supplied ? 'printed' : 'left'} a certificate that expired at ${new Date(leaf.validTo).toISOString()}`, stderrTail: result.stderrTail } };
    }
    this.supplied = supplied;
    return { credentials };
  }

  private succeeded(): void {
    this.failures = 0;
    this.lastSuccessAt = Date.now();
    if (this.failure) this.host.logger.info('identityCommand works again');
    this.failure = undefined;
  }

  private failed(failure: IdentityCommandFailure): void {
    this.failures += 1;
    this.lastFailureAt = Date.now();
    const retry = `tries again in ${Math.round(this.retryDelay() / 1000)} s`;
    const meanwhile = this.valid() ? `keeps the certificate it has (valid until ${new Date(this.validTo!).toISOString()}) and ${retry}` : `has no valid certificate and refuses new connections; it ${retry}`;
    const d = identityCommandDiagnosis(this.host.config().name, failure, meanwhile);
    this.failure = d;
    this.host.report(d);
    this.schedule();
  }

  private onClockJump(jumpMs: number): void {
    if (this.disposed || this.validTo === undefined) return;
    this.host.logger.info(`the clock jumped ${jumpMs > 0 ? 'forward' : 'back'} by ${Math.round(Math.abs(jumpMs) / 1000)} s: checking the client certificate`);
    const config = this.host.config();
    if (this.runs(config) ? Date.now() >= this.renewAt(config) : !this.valid()) {
      void this.renew('the clock jumped');
    } else this.schedule();
  }
}
