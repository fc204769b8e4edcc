/**
 * What each tunnel's client certificate says (subject, days left), for the tree and the status
 * bar, read once per configuration through the core's inspection, which is loaded on first use so
 * activation never pays for it. Stopped tunnels are covered too: an expiring certificate is worth
 * knowing before the tunnel is started.
 */
import * as vscode from 'vscode';
import type { CertificateSummary } from '../core/certs';
import { TunnelConfig } from '../core/config/model';
import { Passphrases } from './secrets';

export type ClientCertificate =
  | { kind: 'certificate'; file: string; summary: CertificateSummary }
  /** A PKCS#12 bundle whose passphrase is not known yet. */
  | { kind: 'locked'; file: string }
  | { kind: 'unreadable'; file: string; message: string };

interface Cached {
  /** The configuration it was read for: a changed path or passphrase source means read again. */
  key: string;
  value?: ClientCertificate;
}

export class ClientCertificates implements vscode.Disposable {
  private readonly cache = new Map<string, Cached>();
  private readonly changed = new vscode.EventEmitter<string>();
  /** Fires with a tunnel's name once its certificate has been read. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly passphrases: Passphrases) {}

  /** The certificate, or undefined while it is being read (onDidChange fires when done). */
  get(config: TunnelConfig): ClientCertificate | undefined {
    const key = JSON.stringify([config.cert, config.pfx, config.passphrase]);
    const cached = this.cache.get(config.name);
    if (cached?.key === key) return cached.value;
    const entry: Cached = { key };
    this.cache.set(config.name, entry);
    void this.read(config).then((value) => {
      if (this.cache.get(config.name) !== entry) return;
      entry.value = value;
      this.changed.fire(config.name);
    });
    return undefined;
  }

  /** Reads every certificate again (refresh, renewed files). */
  clear(): void {
    this.cache.clear();
  }

  private async read(config: TunnelConfig): Promise<ClientCertificate | undefined> {
    const file = config.cert ?? config.pfx;
    if (!file) return undefined;
    const { inspectFiles } = await import('../core/certs');
    const passphrase = config.pfx ? await this.passphrases.known(config) : undefined;
    const [result] = await inspectFiles([file], { passphrase });
    if (result.error) {
      return result.error.code === 'passphrase-needed' ? { kind: 'locked', file } : { kind: 'unreadable', file, message: result.error.message };
    }
    // PEM: the leaf comes first; PKCS#12: inspection puts the leaf first.
    const summary = result.certificates[0];
    return summary ? { kind: 'certificate', file, summary } : { kind: 'unreadable', file, message: `${file} holds no certificate` };
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** Expired, not yet valid, or within the core's "expires soon" window. */
export function needsAttention(c: ClientCertificate | undefined): boolean {
  return c?.kind === 'certificate' && c.summary.status !== 'valid';
}
