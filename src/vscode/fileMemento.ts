/**
 * Workspace state that is on disk when `update` returns: a JSON file in the extension's
 * workspace storage folder, written whole and renamed into place. VS Code's own workspaceState
 * is flushed by the workbench later; in a browser-hosted workbench (code-server, Codespaces) a
 * page closed or a tab killed before that flush loses the last change, and "which tunnels were
 * running" (and on which port the demo server was) is exactly what a reload must not lose. Values already in workspaceState (an older
 * version of this extension) are read through once, as the fallback.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

export class FileMemento implements vscode.Memento {
  private values: Record<string, unknown>;

  constructor(readonly file: string, private readonly fallback: vscode.Memento) {
    this.values = read(file);
  }

  /** The store for this workspace: a file when VS Code gives the workspace a storage folder, else workspaceState. */
  static forWorkspace(context: vscode.ExtensionContext): vscode.Memento {
    return FileMemento.inFolder(context.storageUri, context.workspaceState);
  }

  /** The same for state shared by every window (the demo server's port): a file in the global storage folder. */
  static forEveryWindow(context: vscode.ExtensionContext): vscode.Memento {
    return FileMemento.inFolder(context.globalStorageUri, context.globalState);
  }

  private static inFolder(folder: vscode.Uri | undefined, fallback: vscode.Memento): vscode.Memento {
    return folder?.scheme === 'file' ? new FileMemento(path.join(folder.fsPath, 'state.json'), fallback) : fallback;
  }

  keys(): readonly string[] {
    return [...new Set([...Object.keys(this.values), ...this.fallback.keys()])];
  }

  get<T>(key: string): T | undefined;
  get<T>(key: string, defaultValue: T): T;
  get<T>(key: string, defaultValue?: T): T | undefined {
    if (key in this.values) return this.values[key] as T;
    return this.fallback.get<T>(key) ?? defaultValue;
  }

  async update(key: string, value: unknown): Promise<void> {
    const next = { ...this.values };
    if (value === undefined) delete next[key];
    else next[key] = value;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(next, null, 2), { mode: 0o600 });
    fs.renameSync(temp, this.file);
    this.values = next;
    // Keep the old store in step, so going back to an older version loses nothing.
    await this.fallback.update(key, value);
  }
}

function read(file: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    // Missing (first run) or damaged (written by hand): start empty; the next update rewrites it.
    return {};
  }
}
