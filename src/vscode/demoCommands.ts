/**
 * "Start the Demo Server" and "Stop the Demo Server". Starting either says where the server is
 * and offers the next step, or (the walkthrough's buttons) adds the demo tunnel asked for, with
 * the same code as "Add Tunnel" and every answer given: same checks, same place in the settings.
 */
import * as vscode from 'vscode';
import { formatEndpoint } from '../core/config/model';
import { TunnelManager } from '../core/manager';
import { addTunnel } from './addTunnel';
import { listenAddress } from './clientCommands';
import { DemoTarget, DemoTunnelKind } from './demoTarget';
import { CommandError, Notifier } from './notifier';
import { TunnelSettings } from './settings';

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

const WALKTHROUGH = 'mtls-tunnels.mtls-tunnels#mtlsTunnels.gettingStarted';

interface DemoServices {
  demo: DemoTarget;
  manager: TunnelManager;
  settings: TunnelSettings;
  notifier: Notifier;
}

export async function startDemo(s: DemoServices, options?: StartDemoOptions): Promise<StartDemoResult | undefined> {
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
  const entry = await addTunnel(s.manager, s.settings, draft);
  if (!entry) return { server: address };
  const added = entry.config.name;
  if (kind === 'trusted') {
    s.notifier.info(`Tunnel "${added}" is in your settings: once started, any plain TCP client on ${formatEndpoint(listenAddress(entry))} reaches the demo server over mutual TLS.`, [
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
