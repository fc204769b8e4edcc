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
import type { WorkspaceGrants } from './workspaceGrants';

export const SECTION = 'mtlsTunnels';
export const TUNNELS = 'tunnels';

export interface SettingsApplied extends ApplyResult {
  tunnels: TunnelConfig[];
  errors: ConfigError[];
  /** The same errors, each with the settings it came from (to find the file and the field). */
  problems: SettingsProblem[];
}

/** Which settings hold the value in effect: user, the workspace (file or single folder), or a folder. */
export type SettingsScope = 'global' | 'workspace' | 'workspaceFolder';

export interface Source {
  raw: unknown;
  folder?: vscode.WorkspaceFolder;
  /** Where the entries were written, for duplicate-name messages. */
  where: string;
  scope: SettingsScope;
}

export interface SettingsProblem {
  error: ConfigError;
  source: Source;
}

export class TunnelSettings implements vscode.Disposable {
  private readonly applied = new vscode.EventEmitter<SettingsApplied>();
  /** After every apply: what was added, removed and changed, and the config problems. */
  readonly onDidApply = this.applied.event;
  private readonly disposables: vscode.Disposable[] = [this.applied];
  /** Which settings each tunnel of the last read came from. */
  private origins = new Map<string, Source>();

  constructor(
    private readonly manager: TunnelManager,
    private readonly log: vscode.LogOutputChannel,
    private readonly notifier: Notifier,
    /** Holds the tunnels whose workspace settings widen who may connect until the user agrees. */
    private readonly grants: Pick<WorkspaceGrants, 'holdFor' | 'onDidChange'>,
  ) {
    this.disposables.push(
      grants.onDidChange(() => this.apply('workspace permissions changed')),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) this.apply('settings changed');
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.apply('workspace folders changed')),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.apply('workspace trusted')),
    );
  }

  /** Reads every source and applies the result; config errors are reported once per change. */
  apply(reason: string): SettingsApplied {
    const { tunnels, errors, problems } = this.read();
    const result = this.manager.apply(tunnels);
    const changes = [...result.added.map((n) => `+${n}`), ...result.removed.map((n) => `-${n}`), ...result.changed.map((n) => `~${n}`)];
    this.log.info(`${reason}: ${tunnels.length} tunnel(s)${changes.length ? ` (${changes.join(' ')})` : ', nothing changed'}${errors.length ? `, ${errors.length} problem(s)` : ''}`);
    this.notifier.configErrors(errors);
    const applied = { ...result, tunnels, errors, problems };
    this.applied.fire(applied);
    return applied;
  }

  /**
   * In Restricted Mode nothing from the settings is acted on: the workspace could point a tunnel
   * at any file and any host. One folder: the effective value. Several: the workspace file's
   * entries (no `${workspaceFolder}` there, as in VS Code's own tasks) plus each folder's own.
   */
  read(): { tunnels: TunnelConfig[]; errors: ConfigError[]; problems: SettingsProblem[] } {
    if (!vscode.workspace.isTrusted) return { tunnels: [], errors: [], problems: [] };
    const tunnels: TunnelConfig[] = [];
    const problems: SettingsProblem[] = [];
    const origin = new Map<string, Source>();
    for (const source of this.sources()) {
      const parsed = parseTunnels(source.raw, { workspaceFolder: source.folder?.uri.fsPath, userHome: os.homedir(), env: process.env });
      problems.push(...parsed.errors.map((error) => ({ error, source })));
      for (const tunnel of parsed.tunnels) {
        const first = origin.get(tunnel.name);
        if (first !== undefined) {
          problems.push({ error: new ConfigError(tunnel.name, 'name', `also defined in ${first.where}; names must be unique across the workspace, so the one in ${source.where} is left out`), source });
          continue;
        }
        origin.set(tunnel.name, source);
        const hold = this.grants.holdFor(tunnel, source.scope, settingsName(source));
        tunnels.push(hold ? { ...tunnel, hold } : tunnel);
      }
    }
    this.origins = origin;
    return { tunnels, errors: problems.map((p) => p.error), problems };
  }

  /** The settings the tunnel's entry lives in, as of the last read. */
  sourceOf(name: string): Source | undefined {
    return this.origins.get(name);
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
      return [{ raw: vscode.workspace.getConfiguration(SECTION).get(TUNNELS), where: 'user settings', scope: 'global' }];
    }
    if (folders.length === 1) {
      // inspect() says which settings hold the value in effect, so problems land in that file.
      const i = vscode.workspace.getConfiguration(SECTION, folders[0].uri).inspect<unknown>(TUNNELS);
      const scope: SettingsScope = i?.workspaceFolderValue !== undefined ? 'workspaceFolder' : i?.workspaceValue !== undefined ? 'workspace' : 'global';
      return [{ raw: vscode.workspace.getConfiguration(SECTION, folders[0].uri).get(TUNNELS), folder: folders[0], where: 'settings', scope }];
    }
    const top = vscode.workspace.getConfiguration(SECTION).inspect<unknown>(TUNNELS);
    const sources: Source[] = [{
      raw: top?.workspaceValue ?? top?.globalValue,
      where: top?.workspaceValue !== undefined ? 'the workspace file' : 'user settings',
      scope: top?.workspaceValue !== undefined ? 'workspace' : 'global',
    }];
    for (const folder of folders) {
      const value = vscode.workspace.getConfiguration(SECTION, folder.uri).inspect<unknown>(TUNNELS)?.workspaceFolderValue;
      if (value !== undefined) sources.push({ raw: value, folder, where: `folder ${folder.name}`, scope: 'workspaceFolder' });
    }
    return sources;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** The settings a source is, as a sentence names them: `workspace settings`, `workspace file`, `settings of folder api`. */
function settingsName(source: Source): string {
  if (source.scope === 'global') return 'user settings';
  if (source.scope === 'workspaceFolder' && source.folder && source.where !== 'settings') return `settings of folder ${source.folder.name}`;
  return source.where === 'the workspace file' ? 'workspace file' : 'workspace settings';
}
