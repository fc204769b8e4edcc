/**
 * The built-in demo target, for trying the extension with nothing else set up (and for the
 * walkthrough): a throwaway PKI in the extension's global storage and a local mTLS echo server on
 * 127.0.0.1 that demands a client certificate from that PKI's CA.
 *
 * Its tunnels are ordinary entries in the settings, written by the same code as "Add Tunnel"
 * (demoCommands.ts), so what a new user learns on the demo is exactly how their own tunnels
 * behave, and the entry is there to copy from. The server's port and PKI are kept from one
 * session to the next, so those entries stay valid; the server itself runs only while the
 * extension does, and comes back after a reload when it was running (`restoreOnReload`).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { TunnelEntry, TunnelManager } from '../core/manager';
import { DemoPki, demoPkiFiles } from '../demo/demoPki';
import type { DemoServer } from '../demo/demoServer';
import { TunnelDraft } from './addTunnel';
import { ConnectionTests } from './connectionTests';
import { retargetTunnels } from './demoSettings';

/** Which demo tunnel: one whose client certificate the server trusts, or one it refuses. */
export type DemoTunnelKind = 'trusted' | 'untrusted';

const TUNNEL_NAMES: Record<DemoTunnelKind, string> = { trusted: 'demo', untrusted: 'demo-untrusted' };
/** globalState: the server's port, the same in every window and session. */
const PORT_KEY = 'mtlsTunnels.demo.port';
/** workspaceState: the user started the server in this workspace and has not stopped it. */
const WANTED_KEY = 'mtlsTunnels.demo.wanted';
/** Context keys: welcome links and menus follow the first, the walkthrough's steps complete on all. */
const CONTEXT = {
  running: 'mtlsTunnels.demoRunning',
  tunnelAdded: 'mtlsTunnels.demoTunnelAdded',
  diagnosed: 'mtlsTunnels.demoDiagnosed',
};

export interface RunningDemo {
  server: DemoServer;
  pki: DemoPki;
}

export class DemoTarget implements vscode.Disposable {
  private running?: Promise<RunningDemo>;
  private readonly pki: DemoPki;
  private readonly context = new Map<string, boolean>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    storageDir: string,
    private readonly globalState: vscode.Memento,
    private readonly workspaceState: vscode.Memento,
    private readonly manager: TunnelManager,
    tests: ConnectionTests,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.pki = demoPkiFiles(path.join(storageDir, 'demo-pki'));
    const onChanged = (name: string | undefined) => {
      if (name === undefined) this.setContext(CONTEXT.tunnelAdded, !!this.tunnel('trusted'));
    };
    // A refusal explained, on a demo tunnel: the walkthrough's last step is done.
    const onDiagnosis = (name: string, d: { severity: string }) => {
      if (d.severity === 'error' && this.isDemoTunnel(this.manager.entry(name))) this.setContext(CONTEXT.diagnosed, true);
    };
    manager.on('changed', onChanged);
    manager.on('diagnosis', onDiagnosis);
    this.disposables.push(
      tests.onDidChange((name) => {
        if (tests.last(name)?.report.verdict === 'failed' && this.isDemoTunnel(manager.entry(name))) this.setContext(CONTEXT.diagnosed, true);
      }),
      { dispose: () => { manager.off('changed', onChanged); manager.off('diagnosis', onDiagnosis); } },
    );
    onChanged(undefined);
  }

  /** Whether the server was running in this workspace when the window last closed. */
  get wanted(): boolean {
    return this.workspaceState.get<boolean>(WANTED_KEY, false);
  }

  /** The demo server's port: the one it listens on, or had last (PortAttributes keeps it unforwarded). */
  port = (): number | undefined => this.globalState.get<number>(PORT_KEY);

  /** Starts the demo server (once; later calls get the same one), and remembers that it should run. */
  start(): Promise<RunningDemo> {
    this.running ??= this.launch().catch((err: unknown) => {
      this.running = undefined;
      throw err;
    });
    return this.running;
  }

  /** Stops the demo server at the user's request; false when it was not running. Its tunnels stay in the settings. */
  async stop(): Promise<boolean> {
    await this.workspaceState.update(WANTED_KEY, false);
    return this.close();
  }

  /** Closes the server as the extension shuts down, remembering that it should run after a reload. */
  async shutdown(): Promise<void> {
    await this.close();
  }

  /** The demo tunnel of that kind among the configured ones: found by its certificate files, whatever its name. */
  tunnel(kind: DemoTunnelKind): TunnelEntry | undefined {
    const cert = kind === 'trusted' ? this.pki.client.cert : this.pki.untrustedClient.cert;
    return this.manager.entries().find((e) => this.isDemoTunnel(e) && samePath(e.config.cert, cert));
  }

  /** The "Add Tunnel" answers for a demo tunnel to the server on `port`. */
  draft(kind: DemoTunnelKind, port: number): TunnelDraft {
    const identity = kind === 'trusted' ? this.pki.client : this.pki.untrustedClient;
    return {
      name: TUNNEL_NAMES[kind], protocol: 'tls', target: `127.0.0.1:${port}`,
      cert: identity.cert, key: identity.key, ca: this.pki.ca, listen: 'free',
    };
  }

  /** Listeners only: the server is closed by the one shutdown path (`shutdown()`, from deactivate). */
  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private async close(): Promise<boolean> {
    const running = this.running;
    this.running = undefined;
    const demo = await running?.catch(() => undefined);
    if (!demo) return false;
    await demo.server.close();
    this.setContext(CONTEXT.running, false);
    this.log.info(`[demo] mTLS echo server on 127.0.0.1:${demo.server.port} stopped`);
    return true;
  }

  private async launch(): Promise<RunningDemo> {
    const { ensureDemoPki } = await import('../demo/demoPki');
    const { startDemoServer } = await import('../demo/demoServer');
    const pki = await ensureDemoPki(this.pki.dir);
    // The same port as last time when it is free, so demo tunnels in the settings still reach it.
    const previous = this.globalState.get<number>(PORT_KEY);
    let server: DemoServer;
    try {
      server = await startDemoServer(pki, previous ?? 0);
    } catch (err) {
      if (!previous) throw err;
      this.log.info(`[demo] port ${previous} is taken now (${(err as Error).message}); the demo server takes another`);
      server = await startDemoServer(pki, 0);
    }
    try {
      await this.globalState.update(PORT_KEY, server.port);
      await this.workspaceState.update(WANTED_KEY, true);
      if (previous && previous !== server.port) await this.retarget(server.port);
    } catch (err) {
      // Nothing will hold this server: close it rather than leave it on its port.
      await server.close();
      throw err;
    }
    this.setContext(CONTEXT.running, true);
    this.log.info(`[demo] mTLS echo server listening on 127.0.0.1:${server.port}; it accepts client certificates from the demo CA in ${pki.dir}`);
    return { server, pki };
  }

  private isDemoTunnel(entry: TunnelEntry | undefined): entry is TunnelEntry {
    return !!entry && samePath(entry.config.ca, this.pki.ca);
  }

  /** Points the demo tunnels in the settings at the demo server's new port. */
  private async retarget(port: number): Promise<void> {
    const names = new Set(this.manager.entries().filter((e) => this.isDemoTunnel(e)).map((e) => e.config.name));
    const target = `127.0.0.1:${port}`;
    if (await retargetTunnels(names, target)) this.log.info(`[demo] pointed ${[...names].join(', ')} at ${target}`);
  }

  private setContext(key: string, value: boolean): void {
    if (this.context.get(key) === value) return;
    this.context.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }
}

function samePath(a: string | undefined, b: string): boolean {
  return !!a && path.resolve(a) === path.resolve(b);
}
