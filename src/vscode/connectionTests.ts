/**
 * "Test Connection": the core's handshake doctor run for one tunnel, its report written to the
 * log, and the last report per tunnel kept so the tree can show the server's certificate.
 * The doctor is loaded on first use, not at activation.
 */
import * as vscode from 'vscode';
import type { CheckReport } from '../core/doctor';
import { TunnelConfig } from '../core/config/model';
import { Passphrases } from './secrets';

export class ConnectionTests implements vscode.Disposable {
  private readonly reports = new Map<string, { report: CheckReport; text: string }>();
  private readonly changed = new vscode.EventEmitter<string>();
  /** Fires with a tunnel's name when a new report for it is in. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly passphrases: Passphrases, private readonly log: vscode.LogOutputChannel) {}

  async run(config: TunnelConfig): Promise<{ report: CheckReport; text: string }> {
    const { checkTunnel, formatCheckReport, withProtection } = await import('../core/doctor');
    const { probeProtection } = await import('../core/tunnel/protection');
    const passphrase = await this.passphrases.forTunnel(config);
    this.log.info(`[${config.name}] testing the connection to the target`);
    // As `check` says it: who besides you could use the listener, under the report's first line.
    const [report, protection] = await Promise.all([checkTunnel(config, { passphrase, runIdentityCommand: vscode.workspace.isTrusted }), probeProtection(config)]);
    const text = withProtection(formatCheckReport(report), protection);
    this.log[report.verdict === 'failed' ? 'error' : report.verdict === 'warning' ? 'warn' : 'info'](`[${config.name}] connection test:\n${text.trimEnd()}`);
    const result = { report, text };
    this.reports.set(config.name, result);
    this.changed.fire(config.name);
    return result;
  }

  last(name: string): { report: CheckReport; text: string } | undefined {
    return this.reports.get(name);
  }

  /** The tunnel changed or went away: its old report no longer describes it. */
  forget(names: readonly string[]): void {
    for (const n of names) this.reports.delete(n);
  }

  dispose(): void {
    this.changed.dispose();
  }
}
