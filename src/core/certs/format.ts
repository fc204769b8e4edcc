/**
 * Inspection results as text a person reads at a glance: one block per certificate and key,
 * labels aligned, problems last as `Warning:` lines. Files that failed are left to the caller,
 * which reports them on stderr.
 */
import { FileInspection, KeySummary } from './inspect';
import { formatKeyAlgorithm } from './publicKey';
import { CertificateSummary } from './summary';
import { dayCount, isoDay } from './validity';

const LABEL_WIDTH = 12;

function field(label: string, value: string): string {
  return `    ${(label + ':').padEnd(LABEL_WIDTH)}${value}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function validity(cert: CertificateSummary): string {
  const range = `${isoDay(cert.validFrom)} → ${isoDay(cert.validTo)}`;
  switch (cert.status) {
    case 'expired':
      return `${range} (expired ${dayCount(-cert.daysLeft)} ago)`;
    case 'not yet valid':
      return `${range} (not yet valid)`;
    case 'expires soon':
      return `${range} (${dayCount(cert.daysLeft)} left, expires soon)`;
    case 'valid':
      return `${range} (${dayCount(cert.daysLeft)} left)`;
  }
}

function extendedKeyUsage(cert: CertificateSummary): string {
  if (cert.extendedKeyUsage === null) return 'none (any purpose)';
  const list = cert.extendedKeyUsage.join(', ') || 'empty';
  // This tool's users present leaf certificates as clients: the one gap worth spelling out.
  return cert.role === 'leaf' && !cert.clientAuth ? `${list} (not for client authentication)` : list;
}

function certificateBlock(cert: CertificateSummary, n: number, total: number): string[] {
  const role = cert.selfSigned && cert.role === 'leaf' ? 'leaf, self-signed' : cert.role;
  return [
    `  Certificate ${n} of ${total} (${role})`,
    field('Subject', cert.subject),
    field('Issuer', cert.issuer),
    field('SANs', cert.subjectAltNames.join(', ') || 'none'),
    field('Serial', cert.serialNumber),
    field('Valid', validity(cert)),
    field('Key', formatKeyAlgorithm(cert.publicKey)),
    field('Signature', cert.signatureAlgorithm ?? 'unknown'),
    field('EKU', extendedKeyUsage(cert)),
    field('CA', cert.ca ? 'yes' : 'no'),
    field('SHA-256', cert.sha256Fingerprint),
    field('SPKI pin', cert.spkiSha256),
  ];
}

function matchDescription(key: KeySummary, file: FileInspection, all: readonly FileInspection[]): string {
  if (!key.algorithm) return 'unknown (encrypted)';
  if (!key.matches) return all.some((f) => f.certificates.length > 0) ? 'no certificate' : 'no certificate given to compare';
  const { file: owner, index } = key.matches;
  const subject = all.find((f) => f.file === owner)?.certificates[index]?.subject ?? '';
  const where = owner === file.file ? '' : ` of ${owner}`;
  return `certificate ${index + 1}${where} (${subject})`;
}

function keyBlock(key: KeySummary, n: number, total: number, file: FileInspection, all: readonly FileInspection[]): string[] {
  return [
    `  Private key ${n} of ${total}`,
    field('Key', key.algorithm ? formatKeyAlgorithm(key.algorithm) : 'unknown until decrypted'),
    field('Format', `${key.format}, ${key.encrypted ? 'encrypted' : 'not encrypted'}`),
    field('Matches', matchDescription(key, file, all)),
    ...(key.spkiSha256 ? [field('SPKI pin', key.spkiSha256)] : []),
  ];
}

function fileBlock(file: FileInspection, all: readonly FileInspection[]): string[] {
  const contents = [
    ...(file.certificates.length ? [plural(file.certificates.length, 'certificate')] : []),
    ...(file.keys.length ? [plural(file.keys.length, 'private key')] : []),
  ];
  const lines = [`${file.file} — ${file.kind}, ${contents.join(', ')}`];
  file.certificates.forEach((c, i) => lines.push(...certificateBlock(c, i + 1, file.certificates.length)));
  file.keys.forEach((k, i) => lines.push(...keyBlock(k, i + 1, file.keys.length, file, all)));
  if (file.chain) lines.push(`  ${'Chain:'.padEnd(LABEL_WIDTH + 2)}${file.chain.inOrder ? 'in order (each certificate issued by the next)' : 'OUT OF ORDER'}`);
  for (const warning of file.warnings) lines.push(`  Warning: ${warning}`);
  return lines;
}

/** The text for every file that could be read; blank line between files, trailing newline. */
export function formatInspections(results: readonly FileInspection[]): string {
  const blocks = results.filter((r) => r.error === null).map((r) => fileBlock(r, results).join('\n'));
  return blocks.length === 0 ? '' : blocks.join('\n\n') + '\n';
}
