/**
 * The Tunnels view itself, around the tree's data: the activity-bar badge counting tunnels in
 * error, and the context keys its title buttons follow (Start All while some tunnel is not
 * running, Stop All while some is), both refreshed when the manager changes.
 */
import * as vscode from 'vscode';
import { TunnelManager } from '../core/manager';
import { TunnelTreeProvider } from './tunnelTree';

const CONTEXT = { someRunning: 'mtlsTunnels.someRunning', someStopped: 'mtlsTunnels.someStopped' };

export class TunnelView implements vscode.Disposable {
  readonly view: vscode.TreeView<unknown>;
  private readonly context = new Map<string, boolean>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly manager: TunnelManager, tree: TunnelTreeProvider) {
    this.view = vscode.window.createTreeView('mtlsTunnels.tunnels', { treeDataProvider: tree });
    const onChanged = () => this.update();
    manager.on('changed', onChanged);
    this.disposables.push(this.view, { dispose: () => manager.off('changed', onChanged) });
    this.update();
  }

  private update(): void {
    const states = this.manager.entries().map((e) => e.state);
    const failed = states.filter((s) => s === 'error').length;
    const badge = failed ? { value: failed, tooltip: `${failed} tunnel${failed === 1 ? '' : 's'} in error` } : undefined;
    if (this.view.badge?.value !== badge?.value) this.view.badge = badge;
    this.setContext(CONTEXT.someRunning, states.some((s) => s === 'running' || s === 'starting'));
    this.setContext(CONTEXT.someStopped, states.some((s) => s === 'stopped' || s === 'error'));
  }

  private setContext(key: string, value: boolean): void {
    if (this.context.get(key) === value) return;
    this.context.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
