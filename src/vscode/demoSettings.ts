/**
 * The demo's one write to the settings outside "Add Tunnel": when the demo server had to take a
 * new port, the demo tunnels already written (at whichever level: user, workspace, folder) are
 * pointed at it, so they keep working.
 */
import * as vscode from 'vscode';
import { SECTION, TUNNELS } from './settings';

/** Sets `target` of the named entries to `target` wherever they are written; returns whether anything changed. */
export async function retargetTunnels(names: ReadonlySet<string>, target: string): Promise<boolean> {
  if (names.size === 0) return false;
  const folders = vscode.workspace.workspaceFolders ?? [];
  type Level = [vscode.Uri | undefined, vscode.ConfigurationTarget, 'globalValue' | 'workspaceValue' | 'workspaceFolderValue'];
  const levels: Level[] = [
    [undefined, vscode.ConfigurationTarget.Global, 'globalValue'],
    [undefined, vscode.ConfigurationTarget.Workspace, 'workspaceValue'],
    // In a single-folder workspace the folder's settings are the workspace's.
    ...(folders.length > 1 ? folders.map((f): Level => [f.uri, vscode.ConfigurationTarget.WorkspaceFolder, 'workspaceFolderValue']) : []),
  ];
  let any = false;
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
    any ||= changed;
  }
  return any;
}
