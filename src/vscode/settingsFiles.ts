/**
 * Where a tunnel's settings are written: the file that holds the value in effect (a folder's
 * `.vscode/settings.json`, the `.code-workspace` file, or the user settings file) and the exact
 * JSON range of one field of one entry, found with jsonc-parser. Problems are marked there and
 * buttons like Edit "ca" put the cursor there.
 */
import * as path from 'node:path';
import { Node, findNodeAtLocation, parseTree } from 'jsonc-parser';
import * as vscode from 'vscode';
import { ConfigErrorLocation, fieldPath as fieldPathOf } from '../core/config/model';
import { SECTION, Source, TUNNELS, TunnelSettings } from './settings';

const KEY = `${SECTION}.${TUNNELS}`;

export interface SettingsFile {
  uri: vscode.Uri;
  /** The JSON path of the tunnels array inside the file. */
  prefix: (string | number)[];
}

/** Where one problem is: the entry (by index, or by name when only that is known) and the path inside it. */
export interface FieldLocation extends Pick<ConfigErrorLocation, 'path' | 'target' | 'missing'> {
  index?: number;
  name?: string;
}

export class SettingsFiles {
  constructor(
    private readonly settings: TunnelSettings,
    /** The user settings file, when known (derived from the extension's global storage folder). */
    private readonly userSettings: vscode.Uri | undefined,
  ) {}

  /** The file and JSON prefix of a source of tunnels. */
  fileOf(source: Source): SettingsFile | undefined {
    const workspaceFile = vscode.workspace.workspaceFile;
    switch (source.scope) {
      case 'global':
        return this.userSettings && { uri: this.userSettings, prefix: [KEY] };
      case 'workspace':
        if (workspaceFile && workspaceFile.scheme !== 'untitled') return { uri: workspaceFile, prefix: ['settings', KEY] };
        if (workspaceFile) return undefined;
        return source.folder ? { uri: vscode.Uri.joinPath(source.folder.uri, '.vscode', 'settings.json'), prefix: [KEY] } : undefined;
      case 'workspaceFolder':
        return source.folder ? { uri: vscode.Uri.joinPath(source.folder.uri, '.vscode', 'settings.json'), prefix: [KEY] } : undefined;
    }
  }

  /** The file a named tunnel lives in. */
  fileOfTunnel(name: string): SettingsFile | undefined {
    const source = this.settings.sourceOf(name);
    return source && this.fileOf(source);
  }

  /** The text of a settings file: the open editor's (unsaved edits included), else the disk's. */
  async text(uri: vscode.Uri): Promise<string | undefined> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (open) return open.getText();
    try {
      return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    } catch {
      return undefined;
    }
  }

  /** Opens the tunnel's settings file with the cursor on `field` (the entry when the field is absent). */
  async revealTunnel(name: string, field?: string | (string | number)[]): Promise<boolean> {
    const file = this.fileOfTunnel(name);
    if (!file) return false;
    const fieldPath = typeof field === 'string' ? fieldPathOf(field) : field ?? [];
    return this.reveal(file, { name, path: fieldPath, target: 'value' });
  }

  /** Opens a settings file with the cursor on one field of one entry. */
  async reveal(file: SettingsFile, where: FieldLocation): Promise<boolean> {
    const text = await this.text(file.uri);
    const range = text === undefined ? undefined : rangeOf(text, file.prefix, where);
    const editor = await vscode.window.showTextDocument(file.uri, range ? { selection: range.selection, preview: false } : { preview: false });
    if (range) editor.revealRange(range.selection, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    return true;
  }
}

export interface JsonRange {
  /** What to underline. */
  range: vscode.Range;
  /** Where to put the cursor: the value (or the key) itself. */
  selection: vscode.Range;
}

/**
 * The range of a field of a tunnel entry in a settings text. A value's node for `value`, the
 * property's key for `key` (a misspelt field), the entry's opening for a `missing` field; falls
 * back to the closest enclosing node that exists (the entry, then the setting).
 */
export function rangeOf(text: string, prefix: (string | number)[], where: FieldLocation): JsonRange | undefined {
  const root = parseTree(text, [], { allowTrailingComma: true, disallowComments: false });
  if (!root) return undefined;
  const list = findNodeAtLocation(root, prefix);
  if (!list) return undefined;
  const index = where.index ?? (where.name !== undefined ? indexByName(list, where.name) : undefined);
  const entry = index === undefined ? undefined : list.children?.[index];
  if (!entry) return toRange(text, keyOf(list) ?? list);
  if (where.missing || where.path.length === 0) {
    const nameNode = entry.type === 'object' ? findNodeAtLocation(entry, ['name']) : undefined;
    return toRange(text, nameNode ? keyOf(nameNode) ?? nameNode : { offset: entry.offset, length: 1 } as Node);
  }
  let node: Node | undefined = entry;
  for (const segment of where.path) {
    const next: Node | undefined = findNodeAtLocation(node, [segment]);
    if (!next) break;
    node = next;
  }
  if (node === entry) return toRange(text, { offset: entry.offset, length: 1 } as Node);
  return toRange(text, where.target === 'key' ? keyOf(node) ?? node : node);
}

function indexByName(list: Node, name: string): number | undefined {
  const i = (list.children ?? []).findIndex((e) => e.type === 'object' && findNodeAtLocation(e, ['name'])?.value === name);
  return i < 0 ? undefined : i;
}

/** A value node's property key (the node jsonc-parser keeps as the parent property's first child). */
function keyOf(node: Node): Node | undefined {
  return node.parent?.type === 'property' ? node.parent.children?.[0] : undefined;
}

function toRange(text: string, node: Pick<Node, 'offset' | 'length'>): JsonRange {
  const position = (offset: number) => {
    const before = text.slice(0, offset);
    const line = before.split('\n').length - 1;
    return new vscode.Position(line, offset - (before.lastIndexOf('\n') + 1));
  };
  const range = new vscode.Range(position(node.offset), position(node.offset + node.length));
  return { range, selection: range };
}

/** The user settings file: `<user data>/User/settings.json`, two folders above the global storage. */
export function userSettingsFile(globalStorage: vscode.Uri): vscode.Uri | undefined {
  const user = path.posix.dirname(path.posix.dirname(globalStorage.path));
  return path.posix.basename(user) === 'User' ? globalStorage.with({ path: `${user}/settings.json` }) : undefined;
}
