/**
 * One step of a guided flow ("Add Tunnel"), shown with its counter in the title and a Back
 * button whenever there is a step to go back to. A step resolves with the answer, BACK, or
 * undefined when the user dismissed the flow (Escape, focus elsewhere does not dismiss).
 * File steps are quick picks too ("Browse…" opens the file dialog), so Back works there as well.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

export const BACK = Symbol('back');
export type Answer<T> = T | typeof BACK | undefined;

/** What is on screen now, for the integration tests (the TestApi): the step's title, placeholder and items. */
export interface ShownStep {
  title: string;
  placeholder?: string;
  prompt?: string;
  value: string;
  items: string[];
  /** The highlighted item of a pick. */
  active?: string;
  back: boolean;
}
let shown: ShownStep | undefined;
export const shownStep = (): ShownStep | undefined => shown;

export interface StepOptions {
  title: string;
  back: boolean;
}

export function inputStep(o: StepOptions & { prompt: string; placeholder?: string; value?: string; validate?: (v: string) => string | undefined }): Promise<Answer<string>> {
  const box = vscode.window.createInputBox();
  box.title = o.title;
  box.prompt = o.prompt;
  box.placeholder = o.placeholder;
  box.value = o.value ?? '';
  box.ignoreFocusOut = true;
  box.buttons = o.back ? [vscode.QuickInputButtons.Back] : [];
  const describe = () => ({ title: o.title, prompt: o.prompt, placeholder: o.placeholder, value: box.value, items: [], back: o.back });
  return run(box, describe, (done) => [
    box.onDidChangeValue((v) => {
      box.validationMessage = o.validate?.(v);
      shown = describe();
    }),
    box.onDidAccept(() => {
      const problem = o.validate?.(box.value);
      if (problem) box.validationMessage = problem;
      else done(box.value);
    }),
  ]);
}

export function pickStep<T extends vscode.QuickPickItem>(o: StepOptions & { placeholder: string; items: T[]; active?: T; typed?: (value: string) => T | undefined }): Promise<Answer<T>> {
  const pick = vscode.window.createQuickPick<T>();
  pick.title = o.title;
  pick.placeholder = o.placeholder;
  pick.items = o.items;
  if (o.active) pick.activeItems = [o.active];
  pick.ignoreFocusOut = true;
  pick.buttons = o.back ? [vscode.QuickInputButtons.Back] : [];
  const describe = () => ({ title: o.title, placeholder: o.placeholder, value: pick.value, items: pick.items.map((i) => i.label), active: pick.activeItems[0]?.label, back: o.back });
  return run(pick, describe, (done) => [
    pick.onDidChangeActive(() => { shown = describe(); }),
    // What the user typed can be an answer of its own (a path), offered first.
    pick.onDidChangeValue((v) => {
      const own = o.typed?.(v);
      pick.items = own ? [own, ...o.items] : o.items;
      if (own) pick.activeItems = [own];
      shown = describe();
    }),
    pick.onDidAccept(() => {
      const chosen = pick.activeItems[0];
      if (chosen) done(chosen);
    }),
  ]);
}

function run<T>(input: vscode.QuickInput & { onDidTriggerButton: vscode.Event<vscode.QuickInputButton> }, describe: () => ShownStep, wire: (done: (a: Answer<T>) => void) => vscode.Disposable[]): Promise<Answer<T>> {
  return new Promise((resolve) => {
    let settled = false;
    const disposables: vscode.Disposable[] = [];
    const done = (answer: Answer<T>) => {
      if (settled) return;
      settled = true;
      shown = undefined;
      for (const d of disposables) d.dispose();
      input.dispose();
      resolve(answer);
    };
    disposables.push(
      ...wire(done),
      input.onDidTriggerButton((b) => { if (b === vscode.QuickInputButtons.Back) done(BACK); }),
      input.onDidHide(() => done(undefined)),
    );
    input.show();
    shown = describe();
  });
}

type FileItem = vscode.QuickPickItem & { file?: string; browse?: boolean };

/**
 * A file as one step: the matching files of `folder` (the likeliest first), "Browse…" for the
 * dialog opened in that folder, or a path typed in. Back from the dialog returns to the list.
 */
export async function fileStep(o: StepOptions & {
  placeholder: string; dialogTitle: string; extensions: string[]; prefer?: (file: string) => number;
  /** Lists this folder's matching files, and opens the dialog there. */
  folder?: string;
  /** Instead: the matching files anywhere in the workspace (a few), the dialog opening in `folder`. */
  inWorkspace?: boolean;
}): Promise<Answer<string>> {
  const found = o.inWorkspace ? await findInWorkspace(o.extensions, o.prefer) : undefined;
  for (;;) {
    const browse: FileItem = { label: '$(folder-opened) Browse…', description: 'another file, or type its path above', browse: true };
    const separator = (label: string): FileItem => ({ label, kind: vscode.QuickPickItemKind.Separator });
    let listed: FileItem[] = [];
    if (found) {
      listed = found.map((f) => ({ label: `$(file) ${path.basename(f)}`, description: vscode.workspace.asRelativePath(path.dirname(f)), file: f }));
      if (listed.length) listed.unshift(separator('in the workspace'));
    } else if (o.folder) {
      // The folder once, as the separator's label, rather than on every row.
      listed = listFiles(o.folder, o.extensions, o.prefer).map((f) => ({ label: `$(file) ${path.basename(f)}`, file: f }));
      if (listed.length) listed.unshift(separator(tildify(o.folder)));
    }
    const items: FileItem[] = listed.length ? [...listed, separator(''), browse] : [browse];
    const answer = await pickStep<FileItem>({
      // The likeliest file highlighted, so Enter takes it.
      ...o, items, active: items.find((i) => i.file) ?? browse,
      typed: (v) => {
        const file = expandHome(v.trim());
        return path.isAbsolute(file) && isFile(file) ? { label: `$(file) ${file}`, description: 'the path typed', file, alwaysShow: true } : undefined;
      },
    });
    if (answer === undefined || answer === BACK) return answer;
    if (answer.file) return answer.file;
    const picked = await vscode.window.showOpenDialog({
      title: o.dialogTitle, openLabel: 'Select', canSelectMany: false,
      filters: { Files: o.extensions, 'All files': ['*'] },
      defaultUri: o.folder ? vscode.Uri.file(o.folder) : vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    if (picked?.[0]) return picked[0].fsPath;
    // Dialog cancelled: back to the list, not out of the flow.
  }
}

async function findInWorkspace(extensions: string[], prefer?: (file: string) => number): Promise<string[]> {
  if (!vscode.workspace.workspaceFolders?.length) return [];
  const uris = await vscode.workspace.findFiles(`**/*.{${extensions.join(',')}}`, '**/node_modules/**', 50);
  return uris.map((u) => u.fsPath).sort((a, b) => (prefer ? prefer(b) - prefer(a) : 0) || a.localeCompare(b)).slice(0, 20);
}

function listFiles(folder: string, extensions: string[], prefer?: (file: string) => number): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch {
    return [];
  }
  return names
    .filter((n) => extensions.includes(path.extname(n).slice(1).toLowerCase()))
    .map((n) => path.join(folder, n))
    .filter(isFile)
    .sort((a, b) => (prefer ? prefer(b) - prefer(a) : 0) || a.localeCompare(b))
    .slice(0, 20);
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function tildify(p: string): string {
  const home = os.homedir();
  return p === home || p.startsWith(home + path.sep) ? `~${p.slice(home.length)}` : p;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}
