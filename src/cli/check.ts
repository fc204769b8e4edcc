/**
 * `mtls-tunnels check [NAME…] [--json]`: the handshake doctor for each tunnel, side by side. Exit
 * 0 when every tunnel would work (warnings allowed), 1 when any would not. Config loading, name
 * selection and exit code 2 for bad configuration live in main.ts.
 */
import { TunnelConfig } from '../core/config/model';
import { CheckReport, checkTunnel, formatCheckReport, withProtection } from '../core/doctor';
import { probeProtection } from '../core/tunnel/protection';

export interface CheckIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

export interface RunCheckOptions {
  /** The passphrase for a tunnel's key or pfx (from the environment); never printed. */
  passphrase?: (t: TunnelConfig) => string | undefined;
  /** Print one JSON array of reports instead of text. */
  json?: boolean;
}

export async function runCheck(tunnels: TunnelConfig[], io: CheckIo, options: RunCheckOptions = {}): Promise<number> {
  if (tunnels.length === 0) {
    io.stderr('mtls-tunnels check: no tunnels to check\n');
    return 1;
  }
  // In parallel: one slow or unreachable target must not hold up the others' answers.
  const reports = await Promise.all(tunnels.map((t) => checkTunnel(t, { passphrase: options.passphrase?.(t), runIdentityCommand: true })));
  // Who besides you could use the tunnel's listener: a row under each report's first line.
  const protections = await Promise.all(tunnels.map((t) => probeProtection(t)));
  if (options.json) {
    io.stdout(JSON.stringify(reports.map((r, i) => ({ ...r, protection: protections[i] })), null, 2) + '\n');
  } else {
    io.stdout(reports.map((r, i) => withProtection(formatCheckReport(r), protections[i])).join('\n'));
    if (reports.length > 1) io.stdout(`\n${summaryLine(reports)}\n`);
  }
  return reports.every((r) => r.verdict !== 'failed') ? 0 : 1;
}

function summaryLine(reports: CheckReport[]): string {
  const count = (v: CheckReport['verdict']) => reports.filter((r) => r.verdict === v).length;
  return `${reports.length} tunnels checked: ${count('ok')} ok, ${count('warning')} with warnings, ${count('failed')} failed.`;
}
