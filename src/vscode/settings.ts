/**
 * Where VS Code keeps `mtlsTunnels.tunnels`, and what Restricted Mode allows. The rules for an
 * entry are core's (`parseTunnels`); this reads the raw values folder by folder, each with its own
 * `${workspaceFolder}`, and hands the result to the manager, which applies it by diff.
 */
import * as os from 'node:os';
import * as vscode from 'vscode';
import { ConfigError, TunnelConfig } from '../core/config/model';
import { parseTunnels } from '../core/config/parse';
import { ApplyResult, TunnelManager } from '../core/manager';
import { Notifier } from './notifier';

export const SECTION = 'mtlsTunnels';
export const TUNNELS = 'tunnels';

export interface SettingsApplied extends ApplyResult {
  tunnels: TunnelConfig[];
  errors: ConfigError[];
}

interface Source {
  raw: unknown;
  folder?: vscode.WorkspaceFolder;
  /** Where the entries were written, for duplicate-name messages. */
  where: string;
}

export class TunnelSettings implements vscode.Disposable {
  private readonly applied = new vscode.EventEmitter<SettingsApplied>();
  /** After every apply: what was added, removed and changed, and the config problems. */
  readonly onDidApply = this.applied.event;
  private readonly disposables: vscode.Disposable[] = [this.applied];

  constructor(
    private readonly manager: TunnelManager,
    private readonly log: vscode.LogOutputChannel,
    private readonly notifier: Notifier,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) this.apply('settings changed');
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.apply('workspace folders changed')),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.apply('workspace trusted')),
    );
  }

  /** Reads every source and applies the result; config errors are reported once per change. */
  apply(reason: string): SettingsApplied {
    const { tunnels, errors } = this.read();
    const result = this.manager.apply(tunnels);
    const changes = [...result.added.map((n) => `+${n}`), ...result.removed.map((n) => `-${n}`), ...result.changed.map((n) => `~${n}`)];
    this.log.info(`${reason}: ${tunnels.length} tunnel(s)${changes.length ? ` (${changes.join(' ')})` : ', nothing changed'}${errors.length ? `, ${errors.length} problem(s)` : ''}`);
    this.notifier.configErrors(errors);
    const applied = { ...result, tunnels, errors };
    this.applied.fire(applied);
    return applied;
  }

  /**
   * In Restricted Mode nothing from the settings is acted on: the workspace could point a tunnel
   * at any file and any host. One folder: the effective value. Several: the workspace file's
   * entries (no `${workspaceFolder}` there, as in VS Code's own tasks) plus each folder's own.
   */
  read(): { tunnels: TunnelConfig[]; errors: ConfigError[] } {
    if (!vscode.workspace.isTrusted) return { tunnels: [], errors: [] };
    const tunnels: TunnelConfig[] = [];
    const errors: ConfigError[] = [];
    const origin = new Map<string, string>();
    for (const source of this.sources()) {
      const parsed = parseTunnels(source.raw, { workspaceFolder: source.folder?.uri.fsPath, userHome: os.homedir(), env: process.env });
      errors.push(...parsed.errors);
      for (const tunnel of parsed.tunnels) {
        const first = origin.get(tunnel.name);
        if (first !== undefined) {
          errors.push(new ConfigError(tunnel.name, 'name', `also defined in ${first}; names must be unique across the workspace, so the one in ${source.where} is left out`));
          continue;
        }
        origin.set(tunnel.name, source.where);
        tunnels.push(tunnel);
      }
    }
    return { tunnels, errors };
  }

  /** The folder a tunnel's settings live in (multi-root), or undefined for the workspace's own. */
  folderOf(config: TunnelConfig): vscode.WorkspaceFolder | undefined {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length <= 1 || !config.folder) return undefined;
    return folders.find((f) => f.uri.fsPath === config.folder);
  }

  private sources(): Source[] {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length === 0) {
      return [{ raw: vscode.workspace.getConfiguration(SECTION).get(TUNNELS), where: 'user settings' }];
    }
    if (folders.length === 1) {
      return [{ raw: vscode.workspace.getConfiguration(SECTION, folders[0].uri).get(TUNNELS), folder: folders[0], where: 'settings' }];
    }
    const top = vscode.workspace.getConfiguration(SECTION).inspect<unknown>(TUNNELS);
    const sources: Source[] = [{ raw: top?.workspaceValue ?? top?.globalValue, where: top?.workspaceValue !== undefined ? 'the workspace file' : 'user settings' }];
    for (const folder of folders) {
      const value = vscode.workspace.getConfiguration(SECTION, folder.uri).inspect<unknown>(TUNNELS)?.workspaceFolderValue;
      if (value !== undefined) sources.push({ raw: value, folder, where: `folder ${folder.name}` });
    }
    return sources;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
