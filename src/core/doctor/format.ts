/** A check report as text a person reads: the CLI prints it, the editor's log shows it. */
import { dayCount, isoDay as date } from '../certs/validity';
import { describeProtection, Protection } from '../tunnel/protection';
import { CertificateInfo, CheckReport, Verdict } from './report';

const VERDICT_LINE: Record<Verdict, string> = {
  ok: 'Verdict: OK, the tunnel would work.',
  warning: 'Verdict: WARNING, the tunnel would work; see the warnings above.',
  failed: 'Verdict: FAILED, the tunnel would not work.',
};

const ms = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;

export function formatCheckReport(report: CheckReport): string {
  if (report.targets) return formatTargets(report, report.targets);
  const lines: string[] = [`Tunnel "${report.tunnel}" → ${report.target} (${report.protocol}, server name ${report.serverName})`];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(12)}${value}`);
  const certificate = (indent: string, c: CertificateInfo) => {
    const left = c.daysLeft < 0 ? `expired ${dayCount(-c.daysLeft)} ago` : `${dayCount(c.daysLeft)} left`;
    lines.push(`${indent}issued by ${c.issuer}`);
    lines.push(`${indent}valid ${date(c.validFrom)} → ${date(c.validTo)} (${left})`);
    if (c.subjectAltNames.length > 0) lines.push(`${indent}SANs ${c.subjectAltNames.join(', ')}`);
  };

  const host = report.target.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (report.address && report.address !== host) row('Address', report.address);
  if (report.proxy) {
    const p = report.proxy;
    const proxyHost = p.url.replace(/^http:\/\/(\*\*\*@)?/, '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    row('Proxy', `${p.url} (HTTP CONNECT${p.source === 'settings' ? '' : `, from ${p.source}`}${p.address && p.address !== proxyHost ? `, address ${p.address}` : ''})`);
  } else if (report.proxyBypass) {
    row('Proxy', `none: ${report.proxyBypass}`);
  }
  if (report.timings) {
    const t = report.timings;
    const via = report.proxy ? ' (proxy)' : '';
    const parts = [`DNS${via} ${ms(t.dnsMs)}`];
    if (t.tcpMs !== undefined) parts.push(`TCP${via} ${ms(t.tcpMs)}`);
    if (t.proxyMs !== undefined) parts.push(`CONNECT ${ms(t.proxyMs)}`);
    if (t.preambleMs !== undefined) parts.push(`${report.protocol === 'postgres' ? 'SSLRequest' : 'Preamble'} ${ms(t.preambleMs)}`);
    if (t.tlsMs !== undefined) parts.push(`TLS ${ms(t.tlsMs)}`);
    row('Timings', parts.join(' · '));
  }
  if (report.handshake) {
    const h = report.handshake;
    row('TLS', `${h.version.replace(/^TLSv/, 'TLS ')}, ${h.cipher}, ALPN ${h.alpn || '—'}${h.resumed ? ', session resumed' : ''}`);
  }
  if (report.serverChain.length > 0) {
    lines.push('  Server chain');
    report.serverChain.forEach((c, i) => {
      lines.push(`    ${i}  ${c.subject}`);
      certificate('       ', c);
    });
    if (report.trustAnchor) lines.push(`    trusted through ${report.trustAnchor.subject}`);
  }
  if (report.clientCertificate) {
    const c = report.clientCertificate;
    row('Identity', `${c.subject}, issued by ${c.issuer}, ${c.daysLeft < 0 ? `expired ${date(c.validTo)}` : `${dayCount(c.daysLeft)} left`}`);
  }
  if (report.clientCertificateRequired !== undefined) {
    const atLogin = report.clientCertificateCheckedAt === 'login' ? ` (at login: without one the server answered "${report.loginWithoutCertificate}")` : '';
    lines.push(`  Client certificate: ${report.clientCertificateRequired ? `required by server${atLogin}` : 'NOT required (warning)'}`);
  }
  if (report.acceptedClientCas) row('Client CAs', report.acceptedClientCas.length ? `the server accepts ${report.acceptedClientCas.map((n) => `"${n}"`).join(', ')}` : 'the server names none');
  else if (report.acceptedClientCasUnavailable) row('Client CAs', `not available: ${report.acceptedClientCasUnavailable}`);
  if (report.login) row('Login', `${report.login.asked}: ${report.login.answer}`);
  for (const d of report.diagnoses) {
    lines.push(`  ${d.severity === 'error' ? '✗' : d.severity === 'warning' ? '⚠' : 'ℹ'} ${d.summary}`);
    lines.push(`    → ${d.fix}`);
    if (d.detail) lines.push(`    (${d.detail.trim().replace(/\s*\n\s*/g, ' ')})`);
  }
  lines.push(`  ${VERDICT_LINE[report.verdict]}`);
  return lines.join('\n') + '\n';
}

/**
 * One section per target, as its own check reads, then the tunnel's verdict: failed when any
 * target fails, naming which, because a broken standby is what this check is for finding.
 */
function formatTargets(report: CheckReport, targets: CheckReport[]): string {
  const sections = targets.map((t, i) => {
    const text = formatCheckReport(t).trimEnd().split('\n');
    text[0] = `  Target ${i + 1} of ${targets.length}: ${t.target} (server name ${t.serverName})`;
    text[text.length - 1] = text[text.length - 1].replace('the tunnel would', 'this target would');
    return text.map((l, k) => (k === 0 ? l : `  ${l}`)).join('\n');
  });
  const failed = targets.filter((t) => t.verdict === 'failed').map((t) => t.target);
  const verdict = failed.length === 0
    ? VERDICT_LINE[report.verdict].replace('the tunnel would work', `the tunnel would work with every target`)
    : failed.length === targets.length
      ? 'Verdict: FAILED, no target would work.'
      : `Verdict: FAILED for ${failed.join(', ')}: the tunnel would use ${targets.filter((t) => t.verdict !== 'failed').map((t) => t.target).join(', ')} instead (${report.targetPolicy}), but fix or remove the broken target${failed.length > 1 ? 's' : ''}.`;
  return [`Tunnel "${report.tunnel}" → ${targets.length} targets (${report.targetPolicy}, ${report.protocol})`, ...sections, `  ${verdict}`].join('\n') + '\n';
}

/** A report's text with the listener's Protection row under its first line (who besides you could use the tunnel). */
export function withProtection(text: string, p: Protection): string {
  const at = text.indexOf('\n');
  const row = `  ${'Protection'.padEnd(12)}${describeProtection(p)}`;
  return at < 0 ? `${text}\n${row}` : `${text.slice(0, at)}\n${row}${text.slice(at)}`;
}
