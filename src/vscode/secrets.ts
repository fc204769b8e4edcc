/**
 * Passphrases of encrypted keys and PKCS#12 bundles, per tunnel and file, in VS Code's
 * SecretStorage (the OS keychain): asked once with a password box, never written to settings,
 * never logged. A `passphrase` field (`${env:…}`) in the tunnel's settings always wins.
 */
import * as vscode from 'vscode';
import { TunnelConfig } from '../core/config/model';
import { TunnelManager } from '../core/manager';
import { CredentialsError, loadCredentials } from '../core/tls/credentials';

/** SecretStorage cannot list its keys, so the keys we stored (names and paths, not secrets) are kept here. */
const INDEX = 'mtlsTunnels.storedPassphrases';

export class Passphrases {
  /** One password box at a time: VS Code shows a single input box, a second would cancel the first. */
  private asking: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly state: vscode.Memento,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** For `TunnelManager.passphraseFor`: the known passphrase, or asks when the files need one. */
  async forTunnel(config: TunnelConfig): Promise<string | undefined> {
    const known = await this.known(config);
    if (known !== undefined || !(await needsPassphrase(config))) return known;
    const run = this.asking.then(() => this.ask(config));
    this.asking = run.catch(() => undefined);
    return run;
  }

  /**
   * A wrong stored passphrase is forgotten, so the next start asks again instead of failing
   * forever with the same answer. Listens to the manager's diagnoses until disposed.
   */
  forgetWrongOnes(manager: TunnelManager): vscode.Disposable {
    const onDiagnosis = (name: string, d: { code: string }) => {
      const entry = manager.entry(name);
      if (entry && d.code === 'WRONG_PASSPHRASE') void this.forget(entry.config);
    };
    manager.on('diagnosis', onDiagnosis);
    return { dispose: () => manager.off('diagnosis', onDiagnosis) };
  }

  /** The passphrase from the environment or storage, without asking (inspection, the tree). */
  async known(config: TunnelConfig): Promise<string | undefined> {
    if (config.passphrase !== undefined) return config.passphrase;
    const key = secretKey(config);
    return key ? this.secrets.get(key) : undefined;
  }

  /** Forgets the stored passphrase of one tunnel (wrong passphrase), or of all; returns how many. */
  async forget(config?: TunnelConfig): Promise<number> {
    const stored = this.state.get<string[]>(INDEX, []);
    const key = config && secretKey(config);
    const gone = config ? stored.filter((k) => k === key) : stored;
    for (const k of gone) await this.secrets.delete(k);
    await this.state.update(INDEX, stored.filter((k) => !gone.includes(k)));
    if (gone.length) this.log.info(`forgot ${gone.length} stored passphrase(s)${config ? ` of tunnel "${config.name}"` : ''}`);
    return gone.length;
  }

  private async ask(config: TunnelConfig): Promise<string | undefined> {
    const key = secretKey(config);
    if (!key) return undefined;
    // Asked and answered while this call waited its turn?
    const stored = await this.secrets.get(key);
    if (stored !== undefined) return stored;
    const file = config.pfx ?? config.key ?? config.cert;
    const value = await vscode.window.showInputBox({
      title: `Passphrase for tunnel "${config.name}"`,
      prompt: `${file} is protected by a passphrase. It is kept in VS Code's secret storage, never in settings.`,
      password: true,
      ignoreFocusOut: true,
    });
    if (value === undefined) return undefined;
    await this.secrets.store(key, value);
    const index = this.state.get<string[]>(INDEX, []);
    if (!index.includes(key)) await this.state.update(INDEX, [...index, key]);
    this.log.info(`[${config.name}] passphrase stored in secret storage`);
    return value;
  }
}

function secretKey(config: TunnelConfig): string | undefined {
  const file = config.pfx ?? config.key ?? config.cert;
  return file ? `passphrase:${config.name}:${file}` : undefined;
}

/** Asks the core: do these credentials load without a passphrase? */
async function needsPassphrase(config: TunnelConfig): Promise<boolean> {
  try {
    await loadCredentials(config);
    return false;
  } catch (e) {
    return e instanceof CredentialsError && e.diagnosis.code === 'PASSPHRASE_REQUIRED';
  }
}
