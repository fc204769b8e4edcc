/**
 * Runtime failures, kept current: which tunnels have a failure that still holds (a start that
 * failed, credentials that no longer load, handshakes failing with no success since), on which
 * settings field, since when. A failure the user did not just cause gets a notification unless
 * one for the same tunnel and cause is up; when the tunnel runs again the failure is gone.
 */
import * as vscode from 'vscode';
import { Diagnosis } from '../core/diagnostics/diagnosis';
import { TunnelEntry, TunnelManager } from '../core/manager';
import { ageOf, stamp } from './diagnosisAge';
import { fieldOfDiagnosis, isCredentialProblem } from './diagnosisFields';
import { Notifier } from './notifier';

export interface RuntimeProblem {
  tunnel: string;
  diagnosis: Diagnosis;
  field: string;
  age(): string;
}

/** How many handshakes had succeeded when a diagnosis was made: a later success means it no longer holds. */
const okAt = new WeakMap<Diagnosis, number>();

export class RuntimeProblems implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  /** Diagnoses already published, by tunnel, so a tunnel's change republishes only when its problem changed. */
  private readonly published = new Map<string, Diagnosis | undefined>();
  private ticker?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private pendingAll = false;
  private readonly pendingNames = new Set<string>();
  /** Tunnels the manager restarts by itself after a settings change: their start failures are nobody's action. */
  private readonly restarting = new Set<string>();

  constructor(
    private readonly manager: TunnelManager,
    private readonly notifier: Notifier,
    private readonly changed: () => void,
  ) {
    const onDiagnosis = (name: string, d: Diagnosis) => {
      stamp(d);
      okAt.set(d, manager.entry(name)?.counts?.handshakesOk ?? 0);
      this.maybeNotify(name, d);
    };
    // Connection events come in bursts and an entry is a snapshot of every connection: look
    // once per burst, not once per event.
    const onChanged = (name: string | undefined) => {
      if (name === undefined) this.pendingAll = true;
      else this.pendingNames.add(name);
      this.pending ??= setTimeout(() => this.check(), 50);
    };
    manager.on('diagnosis', onDiagnosis);
    manager.on('changed', onChanged);
    this.disposables.push({ dispose: () => { manager.off('diagnosis', onDiagnosis); manager.off('changed', onChanged); } });
  }

  /** A settings change made the manager restart these (were running): their failures are background ones. */
  restartedBySettings(names: string[]): void {
    for (const n of names) {
      const state = this.manager.entry(n)?.state;
      if (state && state !== 'stopped' && state !== 'error') this.restarting.add(n);
    }
  }

  /** Every failure that still holds. */
  current(): RuntimeProblem[] {
    return this.manager.names().map((n) => this.problemOf(n)).filter((p): p is RuntimeProblem => !!p);
  }

  /** The tunnel's failure that still holds, if any. */
  problemOf(name: string): RuntimeProblem | undefined {
    const entry = this.manager.entry(name);
    const d = entry && holds(entry);
    return d && { tunnel: name, diagnosis: d, field: fieldOfDiagnosis(d, entry.config), age: () => ageOf(d) };
  }

  private check(): void {
    this.pending = undefined;
    const names = this.pendingAll ? [...new Set([...this.published.keys(), ...this.manager.names()])] : [...this.pendingNames];
    this.pendingAll = false;
    this.pendingNames.clear();
    // A restart that came up is over; one that failed is cleared by its diagnosis.
    for (const n of this.restarting) if (this.manager.entry(n)?.state === 'running') this.restarting.delete(n);
    if (names.some((n) => this.published.get(n) !== this.problemOf(n)?.diagnosis)) this.refresh();
  }

  private refresh(): void {
    this.published.clear();
    for (const n of this.manager.names()) this.published.set(n, this.problemOf(n)?.diagnosis);
    this.changed();
    // Ages in the Problems panel move on while problems are shown.
    const any = [...this.published.values()].some(Boolean);
    if (any && !this.ticker) this.ticker = setInterval(() => this.changed(), 30_000);
    if (!any && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /**
   * A start failure is the user's action's (Start, Start All, auto-start: those report it
   * themselves) unless the manager restarted the tunnel for a settings change; a failure while
   * running (a credentials reload, connections) is always a background one.
   */
  private maybeNotify(name: string, d: Diagnosis): void {
    const entry = this.manager.entry(name);
    // Errors, and the warnings that mean a change did not take: settings whose credentials do not
    // load or whose new "listen" cannot be bound leave the tunnel running as it was.
    const notTaken = d.severity === 'warning' && (isCredentialProblem(d.code) || d.code === 'PORT_IN_USE' || d.code === 'LISTEN_DENIED' || d.code === 'LISTEN_ADDRESS_UNAVAILABLE' || d.code === 'NEEDS_CONSENT');
    if (!entry || (d.severity !== 'error' && !notTaken)) return;
    const background = entry.state === 'running' || this.restarting.has(name);
    this.restarting.delete(name);
    if (background) this.notifier.background(name, d, fieldOfDiagnosis(d, entry.config));
  }

  dispose(): void {
    clearInterval(this.ticker);
    clearTimeout(this.pending);
    for (const x of this.disposables) x.dispose();
  }
}

/** The entry's last diagnosis while what it described still holds. */
function holds(entry: TunnelEntry): Diagnosis | undefined {
  const d = entry.lastDiagnosis;
  if (!d || d.severity === 'info') return undefined;
  if (entry.state === 'error' || entry.state === 'starting') return d;
  if (entry.state !== 'running') return undefined;
  if (isCredentialProblem(d.code) || d.code === 'CLIENT_CERT_EXPIRES_SOON') return d;
  // A connection failure holds until a handshake succeeds after it.
  return (entry.counts?.handshakesOk ?? 0) > (okAt.get(d) ?? 0) ? undefined : d;
}
