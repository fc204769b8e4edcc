/**
 * The ports this extension opens are its own business: the tunnels' plain-TCP listeners and the
 * demo server. VS Code's port detection would otherwise offer or auto-forward each one as a
 * "Code Extension Host" port, and in a remote window forward the plaintext side of a tunnel to
 * the laptop without a word. A PortAttributesProvider marks them `Ignore`, not `Silent`: Silent
 * still forwards (quietly), which is exactly what must not happen unasked; the user can still
 * forward one deliberately in the Ports view. In a remote window the user is told once how.
 */
import * as vscode from 'vscode';
import { formatEndpoint } from '../core/config/model';
import { TunnelManager } from '../core/manager';
import { Notifier } from './notifier';

const EXPLAINED_KEY = 'mtlsTunnels.remotePortsExplained';

/**
 * The finalized port API (VS Code 1.92+), typed here because the project pins @types/vscode 1.90,
 * whose engine floor it keeps; present at runtime on newer hosts, absent (and skipped) on older ones.
 */
export interface PortAttributes {
  autoForwardAction: number;
}
interface PortApi {
  registerPortAttributesProvider?(selector: { portRange?: [number, number] | number }, provider: {
    providePortAttributes(attributes: { port: number; pid?: number; commandLine?: string }, token: vscode.CancellationToken): PortAttributes | undefined;
  }): vscode.Disposable;
}
interface PortTypes {
  PortAttributes?: new (action: number) => PortAttributes;
  PortAutoForwardAction?: { Ignore: number };
}

export class TunnelPorts implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  /** Whether the host has the port API (the integration tests check it does). */
  readonly registered: boolean;

  constructor(
    private readonly manager: TunnelManager,
    private readonly demoPort: () => number | undefined,
    private readonly notifier: Notifier,
    private readonly state: vscode.Memento,
  ) {
    // Guarded: older hosts have no such API.
    const api = vscode.workspace as PortApi;
    this.registered = typeof api.registerPortAttributesProvider === 'function';
    if (this.registered) {
      // Every port: a tunnel's port is often 0 in the settings and chosen when it starts.
      this.disposables.push(api.registerPortAttributesProvider!({ portRange: [1, 65535] }, {
        providePortAttributes: ({ port }) => this.attributesOf(port),
      }));
    }
    if (vscode.env.remoteName) {
      const onChanged = (name: string | undefined) => {
        if (name !== undefined) this.explainRemote(name);
      };
      manager.on('changed', onChanged);
      this.disposables.push({ dispose: () => manager.off('changed', onChanged) });
    }
  }

  /** The provider's answer: Ignore for our ports, nothing for anyone else's. */
  attributesOf(port: number): PortAttributes | undefined {
    if (!this.owns(port)) return undefined;
    const types = vscode as unknown as PortTypes;
    const ignore = types.PortAutoForwardAction?.Ignore ?? 5;
    return types.PortAttributes ? new types.PortAttributes(ignore) : { autoForwardAction: ignore };
  }

  /** A port a tunnel listens on (configured or bound) or the demo server's. */
  owns(port: number): boolean {
    if (port === this.demoPort()) return true;
    return this.manager.entries().some((e) => e.config.listen.port === port || e.address.port === port);
  }

  /** Once per user: in a remote window the tunnel's port is on the remote machine. */
  private explainRemote(name: string): void {
    if (this.state.get<boolean>(EXPLAINED_KEY)) return;
    const entry = this.manager.entry(name);
    const address = entry?.state === 'running' ? entry.address : undefined;
    // A unix socket is not a port: nothing for VS Code to forward, nothing to explain.
    if (!address || address.port === undefined) return;
    void this.state.update(EXPLAINED_KEY, true);
    // remoteName is a kind ("ssh-remote", "wsl", "dev-container") in most hosts, an address in some: name only a kind.
    const kind = /^[a-z][a-z-]*$/.test(vscode.env.remoteName ?? '') ? ` (${vscode.env.remoteName})` : '';
    this.notifier.info(
      `Tunnel "${name}" listens on ${formatEndpoint(address)} on the remote machine${kind}, not on this computer, and VS Code does not forward it by itself: to use it from here, forward port ${address.port} in the Ports view.`,
      [{ title: 'Open Ports View', run: () => vscode.commands.executeCommand('~remote.forwardedPorts.focus').then(undefined, () => undefined) }],
    );
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
