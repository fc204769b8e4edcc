/**
 * `$(lock) 2 tunnels up` in the status bar: hidden when nothing is configured, a warning
 * background when a tunnel is in error or a client certificate needs renewing. A click opens a
 * quick pick to start or stop tunnels (`mtlsTunnels.showStatusMenu`).
 */
import * as vscode from 'vscode';
import { formatEndpoint } from '../core/config/model';
import { TunnelManager } from '../core/manager';
import { renewalWords } from '../core/tls/renewalWords';
import { ClientCertificates, needsAttention } from './clientCertificates';

export class TunnelStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('mtlsTunnels.status', vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [this.item];

  constructor(private readonly manager: TunnelManager, private readonly certificates: ClientCertificates) {
    this.item.name = 'mTLS Tunnels';
    this.item.command = 'mtlsTunnels.showStatusMenu';
    const onChanged = () => this.update();
    manager.on('changed', onChanged);
    this.disposables.push({ dispose: () => manager.off('changed', onChanged) }, certificates.onDidChange(onChanged));
    this.update();
  }

  private visible = false;

  /** The text shown, or '' while hidden. */
  get text(): string {
    return this.visible ? this.item.text : '';
  }

  /** Runs on every connection opened or closed: reads only what entries carry cheaply, never `snapshot`. */
  update(): void {
    const entries = this.manager.entries();
    this.visible = entries.length > 0;
    if (!this.visible) {
      this.item.hide();
      return;
    }
    const up = entries.filter((e) => e.state === 'running');
    const failed = entries.filter((e) => e.state === 'error');
    const renewals = entries.map((e) => ({ e, words: renewalWords(e.config, e.state === 'running' ? e.counts?.identity : undefined) })).filter((r) => r.words && r.words.attention !== 'none');
    // A running tunnel's own identity (perhaps a command's output, in memory) says more than its files.
    const expiring = entries.filter((e) => !(e.state === 'running' && e.counts?.identity) && needsAttention(this.certificates.get(e.config)));
    const noun = entries.length === 1 ? 'tunnel' : 'tunnels';
    const count = up.length === entries.length ? `${up.length} ${noun} up` : `${up.length}/${entries.length} ${noun} up`;
    this.item.text = `${failed.length ? '$(warning)' : up.length ? '$(lock)' : '$(unlock)'} ${count}`;
    this.item.backgroundColor = failed.length || expiring.length || renewals.length ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;

    const md = new vscode.MarkdownString('**mTLS Tunnels**\n\n', true);
    for (const e of entries) {
      const icon = e.state === 'running' ? '$(pass-filled)' : e.state === 'error' ? '$(error)' : e.state === 'stopped' ? '$(circle-large-outline)' : '$(loading~spin)';
      md.appendMarkdown(`${icon} ${e.config.name}: \`${formatEndpoint(e.address)}\` → \`${formatEndpoint(e.config.target)}\` (${e.state})\n\n`);
    }
    for (const e of failed) if (e.lastDiagnosis) md.appendText(`${e.lastDiagnosis.summary}\n\n`);
    for (const e of expiring) md.appendText(`Tunnel "${e.config.name}": the client certificate needs renewing${e.config.identityCommand ? '; identityCommand renews it when the tunnel starts' : ''}.\n\n`);
    for (const { e, words } of renewals) md.appendText(`Tunnel "${e.config.name}": ${words!.line}\n\n`);
    md.appendMarkdown('Click to start or stop tunnels.');
    this.item.tooltip = md;
    this.item.accessibilityInformation = { label: `mTLS Tunnels: ${count}${failed.length ? `, ${failed.length} in error` : ''}` };
    this.item.show();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
