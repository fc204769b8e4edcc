/**
 * Every command of the extension, registered through one wrapper: it catches whatever a command
 * throws and hands it to the Notifier, so a failure always reads as the diagnosis sentence with
 * "Show Log" and "Test Connection", never as a stack trace. Each tunnel command takes a tunnel
 * name (palette, scripts, tests), a tree item (menus), or nothing (a quick pick asks).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatEndpoint } from '../core/config/model';
import { TunnelEntry, TunnelManager } from '../core/manager';
import { isActive } from '../core/tunnel/tunnel';
import { TunnelDraft, addTunnel } from './addTunnel';
import { ClientCertificates } from './clientCertificates';
import { clientCommands, listenAddress } from './clientCommands';
import { confirmCut } from './confirmStop';
import { ConnectionTests } from './connectionTests';
import { inspectCertificates } from './inspectCertificates';
import { StartDemoOptions, startDemo, stopDemo } from './demoCommands';
import { DemoTarget } from './demoTarget';
import { CommandError, Notifier } from './notifier';
import { ReportDocuments } from './reportDocuments';
import { Passphrases } from './secrets';
import { TunnelSettings } from './settings';
import { CertificateItem, TunnelTreeProvider } from './tunnelTree';
import { WorkspaceGrants } from './workspaceGrants';

export interface CommandServices {
  manager: TunnelManager;
  settings: TunnelSettings;
  passphrases: Passphrases;
  certificates: ClientCertificates;
  tests: ConnectionTests;
  documents: ReportDocuments;
  tree: TunnelTreeProvider;
  notifier: Notifier;
  log: vscode.LogOutputChannel;
  demo: DemoTarget;
  grants: WorkspaceGrants;
}

/** What a command receives as its first argument. */
type TunnelArg = string | { tunnelName: string } | undefined;


export function registerCommands(s: CommandServices): vscode.Disposable[] {
  const { manager, notifier } = s;

  /** The one error path: every failure goes to the Notifier; the command then resolves undefined. */
  const command = (id: string, handler: (...args: any[]) => unknown): vscode.Disposable =>
    vscode.commands.registerCommand(`mtlsTunnels.${id}`, async (...args: unknown[]) => {
      try {
        return await handler(...args);
      } catch (err) {
        notifier.error(err, nameOf(args[0]));
        return undefined;
      }
    });

  const pick = (arg: TunnelArg, placeHolder: string, prefer?: (e: TunnelEntry) => boolean) => pickTunnel(manager, arg, placeHolder, prefer);

  return [
    command('start', async (arg: TunnelArg) => {
      requireTrust();
      const entry = await pick(arg, 'Start which tunnel?', (e) => !isActive(e.state));
      if (!entry) return undefined;
      await manager.start(entry.config.name);
      const address = formatEndpoint(listenAddress(manager.entry(entry.config.name)!));
      vscode.window.setStatusBarMessage(`$(lock) Tunnel "${entry.config.name}" listening on ${address}`, 4000);
      return address;
    }),

    // Stop, Restart and Stop All cut live sessions: each asks first when connections are open,
    // and resolves false when the user cancels (true once done).
    command('stop', async (arg: TunnelArg) => {
      const entry = await pick(arg, 'Stop which tunnel?', (e) => isActive(e.state));
      if (!entry || !(await confirmCut([entry], 'Stop'))) return false;
      await manager.stop(entry.config.name);
      return true;
    }),

    command('restart', async (arg: TunnelArg) => {
      requireTrust();
      const entry = await pick(arg, 'Restart which tunnel?', (e) => isActive(e.state));
      if (!entry || !(await confirmCut([entry], 'Restart'))) return undefined;
      await manager.restart(entry.config.name);
      return formatEndpoint(listenAddress(manager.entry(entry.config.name)!));
    }),

    command('startAll', async () => {
      requireTrust();
      requireTunnels(manager);
      notifier.startFailures(await manager.startAll());
    }),

    command('stopAll', async () => {
      if (!(await confirmCut(manager.entries(), 'Stop All'))) return false;
      await manager.stopAll();
      return true;
    }),

    command('addTunnel', async (draft?: TunnelDraft) => {
      const entry = await addTunnel(manager, s.settings, draft && typeof draft === 'object' ? draft : {});
      if (!entry) return undefined;
      const name = entry.config.name;
      s.log.info(`[${name}] added to the settings`);
      if (!draft) {
        // The flow ends where the user wants to be next: does it work?
        notifier.info(`Tunnel "${name}" added to the settings. Test the connection now, before you need it?`, [
          { title: 'Test Connection now', run: () => vscode.commands.executeCommand('mtlsTunnels.testConnection', name) },
          { title: 'Start', run: () => vscode.commands.executeCommand('mtlsTunnels.start', name) },
          { title: 'Edit Settings', run: () => vscode.commands.executeCommand('mtlsTunnels.editSettings', name) },
        ]);
      }
      return name;
    }),

    command('editSettings', (arg: TunnelArg) => editSettings(s, nameOf(arg))),

    command('testConnection', async (arg: TunnelArg) => {
      requireTrust();
      const entry = await pick(arg, 'Test the connection of which tunnel?');
      if (!entry) return undefined;
      const name = entry.config.name;
      const { report, text } = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Testing tunnel "${name}": connecting to ${entry.config.targets.map(formatEndpoint).join(', ')}…` },
        () => s.tests.run(entry.config),
      );
      const showReport = { title: 'Show Report', run: () => s.documents.show(`${name} connection test`, text) };
      const problem = report.diagnoses.find((d) => d.severity === 'error') ?? report.diagnoses.find((d) => d.severity === 'warning');
      if (report.verdict === 'ok') {
        const h = report.handshake;
        notifier.info(`Tunnel "${name}" would work: ${entry.config.targets.length > 1 ? `each of its ${entry.config.targets.length} targets` : formatEndpoint(entry.config.target)} accepted the client certificate${h ? ` (${h.version}, ${h.cipher})` : ''}.`, [showReport]);
      } else if (problem) {
        // Through the one error path, with the report one click away.
        notifier.error(new CommandError(`${problem.summary} ${problem.fix}`, report.verdict === 'failed' ? 'error' : 'warning', [showReport], problem.code), name);
      }
      return text;
    }),

    command('inspectCertificates', (arg: TunnelArg | CertificateItem) => inspectCertificates(s, arg, nameOf(arg) !== undefined, () => pick(nameOf(arg), 'Inspect the certificates of which tunnel?'))),

    command('copyAddress', async (arg: TunnelArg) => {
      const entry = await pick(arg, 'Copy the local address of which tunnel?', (e) => e.state === 'running');
      if (!entry) return undefined;
      const address = listenAddress(entry);
      if (address.port === 0) throw new CommandError(`Tunnel "${entry.config.name}" listens on any free port: start it first, then copy its address.`, 'info');
      const text = formatEndpoint(address);
      await vscode.env.clipboard.writeText(text);
      vscode.window.setStatusBarMessage(`Copied ${text}`, 3000);
      return text;
    }),

    command('copyClientCommand', async (arg: TunnelArg, tool?: string) => {
      const entry = await pick(arg, 'Copy a client command for which tunnel?', (e) => e.state === 'running');
      if (!entry) return undefined;
      if (listenAddress(entry).port === 0) throw new CommandError(`Tunnel "${entry.config.name}" listens on any free port: start it first, then copy a command.`, 'info');
      const candidates = clientCommands(entry);
      const chosen = typeof tool === 'string'
        ? candidates.find((c) => c.tool === tool)
        : candidates.length === 1 ? candidates[0]
          : (await vscode.window.showQuickPick(candidates.map((c) => ({ label: c.tool, description: c.detail, detail: c.command, c })), { placeHolder: 'Copy which command?' }))?.c;
      if (!chosen) return undefined;
      await vscode.env.clipboard.writeText(chosen.command);
      vscode.window.setStatusBarMessage(`Copied: ${chosen.command}`, 4000);
      return chosen.command;
    }),

    command('showLog', () => s.log.show()),

    command('forgetPassphrases', async (arg: TunnelArg) => {
      const entry = nameOf(arg) ? await pick(arg, '') : undefined;
      const n = await s.passphrases.forget(entry?.config);
      notifier.info(n === 0 ? 'No passphrase was stored.' : `Forgot ${n} stored passphrase${n === 1 ? '' : 's'}; the next start asks again.`);
      return n;
    }),

    // Workspace settings that let others in wait for the user's word (workspaceGrants.ts).
    command('allowForWorkspace', async (arg: TunnelArg) => {
      const held = manager.entries().filter((e) => e.config.hold).map((e) => e.config.name);
      const name = nameOf(arg) ?? (held.length === 1 ? held[0] : (await vscode.window.showQuickPick(held, { placeHolder: 'Allow which tunnel for this workspace?' })));
      if (!name) return false;
      if (!held.includes(name)) throw new CommandError(`Tunnel "${name}" does not wait for a permission.`, 'info');
      return s.grants.ask(name);
    }),

    command('forgetWorkspacePermissions', async () => {
      const n = await s.grants.forget();
      // Running tunnels held again keep their old settings; the permission they ran on is gone, so they stop.
      const held = manager.entries().filter((e) => e.config.hold && isActive(e.state));
      const stopped = held.length > 0 && (await confirmCut(held, 'Stop'));
      if (stopped) await Promise.all(held.map((e) => manager.stop(e.config.name)));
      const kept = stopped ? '' : held.map((e) => ` "${e.config.name}" keeps running as it is until you stop it.`).join('');
      notifier.info(n === 0 ? 'No workspace permission was given.' : `Forgot ${n} workspace permission${n === 1 ? '' : 's'}; such tunnels wait for your word again.${kept}`);
      return n;
    }),

    command('refresh', () => {
      s.certificates.clear();
      s.settings.apply('refresh');
      s.tree.refresh();
    }),

    command('startDemo', (options?: StartDemoOptions) => startDemo(s, options)),

    command('stopDemo', () => stopDemo(s)),

    // Internal (hidden from the palette): the status bar item's menu.
    command('showStatusMenu', () => showStatusMenu(s)),
  ];
}

/** Tunnels listed by the settings start only where the workspace is trusted. */
function requireTrust(): void {
  if (vscode.workspace.isTrusted) return;
  throw new CommandError(
    'This workspace is in Restricted Mode: its tunnels do not start, because its settings could point them at any file or host. Trust the workspace to use them.',
    'warning',
    [{ title: 'Manage Workspace Trust', run: () => vscode.commands.executeCommand('workbench.trust.manage') }],
  );
}

function requireTunnels(manager: TunnelManager): void {
  if (manager.names().length > 0) return;
  throw new CommandError('No tunnels are configured yet.', 'info', [
    { title: 'Add Tunnel', run: () => vscode.commands.executeCommand('mtlsTunnels.addTunnel') },
  ]);
}

function nameOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const name = (arg as { tunnelName?: unknown } | undefined)?.tunnelName;
  return typeof name === 'string' ? name : undefined;
}

/**
 * The named tunnel, or a quick pick of those `prefer` likes (all when it likes none); a lone
 * candidate is taken without asking ("Stop Tunnel" with one tunnel running stops that one).
 */
async function pickTunnel(manager: TunnelManager, arg: TunnelArg, placeHolder: string, prefer?: (e: TunnelEntry) => boolean): Promise<TunnelEntry | undefined> {
  const name = nameOf(arg);
  if (name !== undefined) {
    const entry = manager.entry(name);
    if (!entry) throw new CommandError(`There is no tunnel named "${name}" in the settings.`, 'warning');
    return entry;
  }
  requireTunnels(manager);
  const all = manager.entries();
  const preferred = prefer ? all.filter(prefer) : all;
  const entries = preferred.length ? preferred : all;
  if (entries.length === 1 && prefer) return entries[0];
  const picked = await vscode.window.showQuickPick(
    entries.map((e) => ({ label: e.config.name, description: `${e.state} · ${formatEndpoint(listenAddress(e))} → ${formatEndpoint(e.config.target)}`, entry: e })),
    { placeHolder },
  );
  return picked?.entry;
}

/** Opens the settings file the tunnel lives in, at its entry when it can be found. */
async function editSettings(s: CommandServices, name: string | undefined): Promise<void> {
  const entry = name ? s.manager.entry(name) : undefined;
  const folder = entry ? s.settings.folderOf(entry.config) : undefined;
  const folderSettings = folder && path.join(folder.uri.fsPath, '.vscode', 'settings.json');
  if (folderSettings && fs.existsSync(folderSettings)) {
    await vscode.window.showTextDocument(vscode.Uri.file(folderSettings));
  } else {
    await vscode.commands.executeCommand(vscode.workspace.workspaceFolders?.length ? 'workbench.action.openWorkspaceSettingsFile' : 'workbench.action.openSettingsJson');
  }
  const editor = vscode.window.activeTextEditor;
  if (!editor || !name) return;
  const match = new RegExp(`"name"\\s*:\\s*${JSON.stringify(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).exec(editor.document.getText());
  if (!match) return;
  const start = editor.document.positionAt(match.index);
  editor.selection = new vscode.Selection(start, editor.document.positionAt(match.index + match[0].length));
  editor.revealRange(editor.selection, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
}

async function showStatusMenu(s: CommandServices): Promise<void> {
  type Item = vscode.QuickPickItem & { run?: () => Thenable<unknown> };
  const tunnelItems: Item[] = s.manager.entries().map((e) => {
    const up = isActive(e.state);
    return {
      label: `${up ? '$(debug-stop)' : '$(play)'} ${e.config.name}`,
      description: `${e.state} · ${formatEndpoint(listenAddress(e))} → ${formatEndpoint(e.config.target)}`,
      detail: e.state === 'error' ? e.lastDiagnosis?.summary : undefined,
      run: () => vscode.commands.executeCommand(up ? 'mtlsTunnels.stop' : 'mtlsTunnels.start', e.config.name),
    };
  });
  const items: Item[] = [
    ...tunnelItems,
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(run-all) Start All Tunnels', run: () => vscode.commands.executeCommand('mtlsTunnels.startAll') },
    { label: '$(stop-circle) Stop All Tunnels', run: () => vscode.commands.executeCommand('mtlsTunnels.stopAll') },
    { label: '$(output) Show Log', run: () => vscode.commands.executeCommand('mtlsTunnels.showLog') },
  ];
  const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Start or stop a tunnel' });
  await picked?.run?.();
}
