/**
 * "Inspect Certificates": the core's summary of a tunnel's certificate, key, bundle and CA files
 * (or of files picked when no tunnel exists yet, or the server's chain from the last connection
 * test), shown as a read-only report. The certificate library is loaded on first use.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { TunnelConfig, formatEndpoint } from '../core/config/model';
import { TunnelEntry, TunnelManager } from '../core/manager';
import { ConnectionTests } from './connectionTests';
import { ReportDocuments } from './reportDocuments';
import { Passphrases } from './secrets';
import { CertificateItem } from './tunnelTree';

interface InspectServices {
  manager: TunnelManager;
  tests: ConnectionTests;
  documents: ReportDocuments;
  passphrases: Passphrases;
}

/** `named`: a tunnel was given; `pick` resolves it (or asks which). */
export async function inspectCertificates(s: InspectServices, arg: unknown, named: boolean, pick: () => Promise<TunnelEntry | undefined>): Promise<string | undefined> {
  if (arg instanceof CertificateItem && arg.role === 'server') {
    const last = s.tests.last(arg.tunnelName);
    if (last) await s.documents.show(`${arg.tunnelName} connection test`, last.text);
    return last?.text;
  }
  let files: string[];
  let title: string;
  let config: TunnelConfig | undefined;
  if (!named && s.manager.names().length === 0) {
    const picked = await vscode.window.showOpenDialog({ title: 'Inspect certificate, key or PKCS#12 files', canSelectMany: true, openLabel: 'Inspect' });
    if (!picked?.length) return undefined;
    files = picked.map((u) => u.fsPath);
    title = files.length === 1 ? path.basename(files[0]) : `${files.length} files`;
  } else {
    const entry = await pick();
    if (!entry) return undefined;
    config = entry.config;
    files = [config.cert, config.key, config.pfx, config.ca].filter((f): f is string => !!f);
    title = `${config.name} certificates`;
  }
  const { inspectFiles, formatInspections } = await import('../core/certs');
  const passphrase = config ? await s.passphrases.known(config) : undefined;
  const results = await inspectFiles(files, { passphrase });
  const failures = results.filter((r) => r.error).map((r) => `Error: ${r.error!.message}`);
  const header = config
    ? `Certificates of tunnel "${config.name}" (${formatEndpoint(config.target)}, ${config.protocol}), inspected ${new Date().toLocaleString()}\n\n`
    : `Inspected ${new Date().toLocaleString()}\n\n`;
  const text = header + formatInspections(results) + (failures.length ? `\n${failures.join('\n')}\n` : '');
  await s.documents.show(title, text);
  return text;
}
