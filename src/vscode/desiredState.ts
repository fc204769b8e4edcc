/**
 * Tunnels that start without a command: those marked `autoStart` when they appear in the
 * settings, and after a window reload or restart those the user had running
 * (`mtlsTunnels.restoreOnReload`, on by default), with the demo server when it was running.
 * The wanted set is the manager's (start sets it, stop clears it, shutdown keeps it); it is kept
 * per workspace on every change (a file in the workspace's storage folder: fileMemento.ts). Nothing starts in Restricted Mode: a name
 * waits until trust is granted and its tunnel appears.
 */
import * as vscode from 'vscode';
import { TunnelManager } from '../core/manager';
import { DemoTarget } from './demoTarget';
import { Notifier } from './notifier';
import { SECTION, SettingsApplied, TunnelSettings } from './settings';

const WANTED_KEY = 'mtlsTunnels.wantedTunnels';
const RESTORE_SETTING = 'restoreOnReload';

export class DesiredState implements vscode.Disposable {
  /** Wanted when the window last closed, not yet seen in the settings of this session. */
  private readonly pending: Set<string>;
  private demoPending: boolean;
  private saved: string;
  private readonly disposables: vscode.Disposable[] = [];
  private settle!: () => void;
  /** Resolves once the first settings applied in a trusted workspace were acted on (the tests wait for it). */
  readonly settled = new Promise<void>((resolve) => { this.settle = resolve; });

  constructor(
    private readonly manager: TunnelManager,
    settings: TunnelSettings,
    private readonly demo: DemoTarget,
    private readonly state: vscode.Memento,
    private readonly notifier: Notifier,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const stored = state.get<string[]>(WANTED_KEY, []);
    this.pending = new Set(stored);
    this.saved = JSON.stringify(stored);
    this.demoPending = demo.wanted;
    const onChanged = () => this.save();
    manager.on('changed', onChanged);
    this.disposables.push(
      { dispose: () => manager.off('changed', onChanged) },
      settings.onDidApply((applied) => {
        if (!vscode.workspace.isTrusted) return;
        void this.onApplied(applied).finally(() => this.settle());
      }),
    );
  }

  private save(): void {
    const wanted = JSON.stringify([...new Set([...this.manager.wantedNames(), ...this.pending])].sort());
    if (wanted === this.saved) return;
    this.saved = wanted;
    void this.state.update(WANTED_KEY, JSON.parse(wanted));
  }

  private async onApplied(applied: SettingsApplied): Promise<void> {
    const restore = vscode.workspace.getConfiguration(SECTION).get<boolean>(RESTORE_SETTING, true);
    // The tunnels that appeared now: at activation, when trust is granted, when a teammate's settings add one.
    const autoStart = applied.added.filter((n) => applied.tunnels.find((t) => t.name === n)?.autoStart);
    const restored = this.manager.names().filter((n) => this.pending.has(n));
    for (const n of restored) this.pending.delete(n);
    const demo = this.demoPending;
    this.demoPending = false;
    if (!restore) {
      if (restored.length || demo) this.log.info(`not restoring ${[...restored, ...(demo ? ['the demo server'] : [])].join(', ')}: ${SECTION}.${RESTORE_SETTING} is off`);
      restored.length = 0;
    }
    this.save();
    const demoBack = restore && demo && (await this.restoreDemo());
    const names = [...new Set([...autoStart, ...restored])];
    if (names.length === 0 && !demoBack) return;
    const failures = await this.manager.startAll(names);
    this.notifier.startFailures(failures);
    // A tunnel marked autoStart would have started anyway: not news.
    const back = restored.filter((n) => !failures.has(n) && !autoStart.includes(n));
    if (back.length || demoBack) this.say(back, demoBack);
  }

  private async restoreDemo(): Promise<boolean> {
    try {
      await this.demo.start();
      return true;
    } catch (err) {
      this.notifier.error(err);
      return false;
    }
  }

  /**
   * One quiet message, no buttons (so it hides by itself): a reload should not demand attention,
   * but a user who finds a tunnel running that they did not start this session must be able to
   * learn why. The log says how to turn it off.
   */
  private say(names: string[], demo: boolean): void {
    const tunnels = names.length === 0 ? ''
      : names.length === 1 ? `tunnel "${names[0]}"` : `tunnels ${names.map((n) => `"${n}"`).join(', ')}`;
    const what = [tunnels, demo ? 'the demo server' : ''].filter(Boolean).join(' and ');
    this.log.info(`restored ${what}, as they were running when the window closed (setting ${SECTION}.${RESTORE_SETTING})`);
    this.notifier.info(`Restored from the last session: ${what}.`);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
