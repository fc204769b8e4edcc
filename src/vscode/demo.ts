/**
 * The built-in demo target, for trying the extension with nothing else set up (and for the
 * walkthrough): a throwaway PKI in the extension's global storage and a local mTLS echo server on
 * 127.0.0.1 that demands a client certificate from that PKI's CA.
 *
 * Its tunnels are ordinary entries in the settings, written by "Add Tunnel" with every answer
 * filled in, so what a new user learns on the demo (the tree, start, copy a client command, test,
 * a diagnosis) is exactly how their own tunnels behave, and the entry is there to copy from.
 * With no folder open, "Add Tunnel" writes to the user settings, so the demo needs no workspace.
 * The server's port and PKI are kept from one session to the next, so those entries stay valid;
 * the server itself runs only until the extension stops.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatEndpoint } from '../core/config/model';
import { TunnelEntry, TunnelManager } from '../core/manager';
import { DemoPki, demoPkiFiles } from '../demo/demoPki';
import type { DemoServer } from '../demo/demoServer';
import { TunnelDraft } from './addTunnel';
import { listenAddress } from './clientCommands';
import { ConnectionTests } from './connectionTests';
import { CommandError, Notifier } from './notifier';
import { SECTION, TUNNELS, TunnelSettings } from './settings';

/** Which demo tunnel: one whose client certificate the server trusts, or one it refuses. */
export type DemoTunnelKind = 'trusted' | 'untrusted';

export interface StartDemoOptions {
  /** Also add that demo tunnel to the settings (the walkthrough's buttons, scripts, tests). */
  addTunnel?: DemoTunnelKind;
}

export interface StartDemoResult {
  /** Where the demo mTLS server listens, `127.0.0.1:PORT`. */
  server: string;
  /** The tunnel added (or found already there), when `addTunnel` asked for one. */
  tunnel?: string;
}

const TUNNEL_NAMES: Record<DemoTunnelKind, string> = { trusted: 'demo', untrusted: 'demo-untrusted' };
const PORT_KEY = 'mtlsTunnels.demo.port';
const WALKTHROUGH = 'mtls-tunnels.mtls-tunnels#mtlsTunnels.gettingStarted';
/** Context keys the walkthrough's steps complete on. */
const CONTEXT = {
  running: 'mtlsTunnels.demoRunning',
  tunnelAdded: 'mtlsTunnels.demoTunnelAdded',
  diagnosed: 'mtlsTunnels.demoDiagnosed',
};

interface RunningDemo {
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
    private readonly state: vscode.Memento,
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

  /** The demo server's port: the one it listens on, or had last (PortAttributes keeps it unforwarded). */
  port = (): number | undefined => this.state.get<number>(PORT_KEY);

  /** Starts the demo server (once; later calls get the same one). */
  start(): Promise<RunningDemo> {
    this.running ??= this.launch().catch((err: unknown) => {
      this.running = undefined;
      throw err;
    });
    return this.running;
  }

  /** Stops the demo server; false when it was not running. Its tunnels stay in the settings. */
  async stop(): Promise<boolean> {
    const running = this.running;
    this.running = undefined;
    const demo = await running?.catch(() => undefined);
    if (!demo) return false;
    await demo.server.close();
    this.setContext(CONTEXT.running, false);
    this.log.info(`[demo] mTLS echo server on 127.0.0.1:${demo.server.port} stopped`);
    return true;
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

  dispose(): void {
    void this.stop();
    for (const d of this.disposables) d.dispose();
  }

  private async launch(): Promise<RunningDemo> {
    const { ensureDemoPki } = await import('../demo/demoPki');
    const { startDemoServer } = await import('../demo/demoServer');
    const pki = await ensureDemoPki(this.pki.dir);
    // The same port as last time when it is free, so demo tunnels in the settings still reach it.
    const previous = this.state.get<number>(PORT_KEY);
    let server: DemoServer;
    try {
      server = await startDemoServer(pki, previous ?? 0);
    } catch (err) {
      if (!previous) throw err;
      this.log.info(`[demo] port ${previous} is taken now (${(err as Error).message}); the demo server takes another`);
      server = await startDemoServer(pki, 0);
    }
    try {
      await this.state.update(PORT_KEY, server.port);
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

  /** Points the demo tunnels in the settings at the demo server's new port, wherever they are written. */
  private async retarget(port: number): Promise<void> {
    const names = new Set(this.manager.entries().filter((e) => this.isDemoTunnel(e)).map((e) => e.config.name));
    if (names.size === 0) return;
    const target = `127.0.0.1:${port}`;
    const folders = vscode.workspace.workspaceFolders ?? [];
    type Level = [vscode.Uri | undefined, vscode.ConfigurationTarget, 'globalValue' | 'workspaceValue' | 'workspaceFolderValue'];
    const levels: Level[] = [
      [undefined, vscode.ConfigurationTarget.Global, 'globalValue'],
      [undefined, vscode.ConfigurationTarget.Workspace, 'workspaceValue'],
      // In a single-folder workspace the folder's settings are the workspace's.
      ...(folders.length > 1 ? folders.map((f): Level => [f.uri, vscode.ConfigurationTarget.WorkspaceFolder, 'workspaceFolderValue']) : []),
    ];
    for (const [scope, level, key] of levels) {
      const configuration = vscode.workspace.getConfiguration(SECTION, scope);
      const value = configuration.inspect<unknown>(TUNNELS)?.[key];
      if (!Array.isArray(value)) continue;
      let changed = false;
      const next = value.map((e: { name?: unknown; target?: unknown }) => {
        if (!e || typeof e !== 'object' || !names.has(String(e.name)) || e.target === target) return e;
        changed = true;
        return { ...e, target };
      });
      if (changed) await configuration.update(TUNNELS, next, level);
    }
    this.log.info(`[demo] pointed ${[...names].join(', ')} at ${target}`);
  }

  private setContext(key: string, value: boolean): void {
    if (this.context.get(key) === value) return;
    this.context.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }
}

/**
 * "Start the Demo Server": starts it, then either adds the demo tunnel asked for, or (from the
 * palette) says where the server is and offers the next step.
 */
export async function startDemo(
  s: { demo: DemoTarget; manager: TunnelManager; settings: TunnelSettings; notifier: Notifier },
  options?: StartDemoOptions,
): Promise<StartDemoResult | undefined> {
  const kind = options && typeof options === 'object' ? options.addTunnel : undefined;
  if (kind !== undefined && kind !== 'trusted' && kind !== 'untrusted') {
    throw new CommandError(`Unknown demo tunnel "${String(kind)}": use "trusted" or "untrusted".`, 'warning');
  }
  const { server } = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'Starting the mTLS demo server' },
    () => s.demo.start(),
  );
  const address = `127.0.0.1:${server.port}`;
  if (!kind) {
    const trusted = s.demo.tunnel('trusted');
    s.notifier.info(
      `The demo mTLS server listens on ${address}. It accepts only client certificates from its own throwaway CA${trusted ? `; tunnel "${trusted.config.name}" reaches it.` : ': add the demo tunnel to reach it.'}`,
      [
        trusted
          ? { title: `Start "${trusted.config.name}"`, run: () => vscode.commands.executeCommand('mtlsTunnels.start', trusted.config.name) }
          : { title: 'Add Demo Tunnel', run: () => vscode.commands.executeCommand('mtlsTunnels.startDemo', { addTunnel: 'trusted' }) },
        { title: 'Open Walkthrough', run: () => vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH, false) },
      ],
    );
    return { server: address };
  }

  const existing = s.demo.tunnel(kind);
  if (existing) return { server: address, tunnel: existing.config.name };
  const draft = s.demo.draft(kind, server.port);
  const name = draft.name!;
  if (s.manager.entry(name)) {
    throw new CommandError(`A tunnel named "${name}" is in the settings already, and it is not the demo's. Rename it to add the demo tunnel.`, 'warning');
  }
  if (!vscode.workspace.isTrusted) {
    throw new CommandError('This workspace is in Restricted Mode: tunnels in its settings are not read, so the demo tunnel would not appear. Trust the workspace first.', 'warning', [
      { title: 'Manage Workspace Trust', run: () => vscode.commands.executeCommand('workbench.trust.manage') },
    ]);
  }
  // The same command as the "+" in the view, with every answer given: same checks, same place.
  const added = await vscode.commands.executeCommand<string | undefined>('mtlsTunnels.addTunnel', draft);
  if (!added) return { server: address };
  const entry = await listed(s.manager, s.settings, added);
  const where = entry ? formatEndpoint(listenAddress(entry)) : 'its port';
  if (kind === 'trusted') {
    s.notifier.info(`Tunnel "${added}" is in your settings: once started, any plain TCP client on ${where} reaches the demo server over mutual TLS.`, [
      { title: 'Start', run: () => vscode.commands.executeCommand('mtlsTunnels.start', added) },
    ]);
  } else {
    s.notifier.info(`Tunnel "${added}" presents a client certificate from a CA the demo server does not trust. Test it to see how the refusal is explained.`, [
      { title: 'Test Connection', run: () => vscode.commands.executeCommand('mtlsTunnels.testConnection', added) },
    ]);
  }
  return { server: address, tunnel: added };
}

export async function stopDemo(s: { demo: DemoTarget; notifier: Notifier }): Promise<boolean> {
  const stopped = await s.demo.stop();
  s.notifier.info(stopped ? 'The demo mTLS server stopped. Its tunnels stay in the settings; "Start the Demo Server" brings it back on the same port.' : 'The demo mTLS server is not running.');
  return stopped;
}

/** Resolves once the settings change that added `name` reached the manager (or after a few seconds, undefined). */
function listed(manager: TunnelManager, settings: TunnelSettings, name: string, timeoutMs = 5000): Promise<TunnelEntry | undefined> {
  const now = manager.entry(name);
  if (now) return Promise.resolve(now);
  return new Promise((resolve) => {
    const done = (entry: TunnelEntry | undefined) => {
      clearTimeout(timer);
      subscription.dispose();
      resolve(entry);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const subscription = settings.onDidApply(() => {
      const entry = manager.entry(name);
      if (entry) done(entry);
    });
  });
}

function samePath(a: string | undefined, b: string): boolean {
  return !!a && path.resolve(a) === path.resolve(b);
}
