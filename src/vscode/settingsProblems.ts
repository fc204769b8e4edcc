/**
 * Problems where the user types: every settings problem, and every runtime failure that a field
 * explains, is a Diagnostic ("mTLS Tunnels") on the exact JSON range of that field in the file
 * that holds the value in effect, with quick fixes where the fix is clear (a misspelt field, a
 * non-loopback listen, a misspelt protocol). Refreshed on every apply (each save) and whenever a
 * tunnel changes; a problem that no longer holds is gone with the next refresh.
 */
import * as vscode from 'vscode';
import { ConfigError, ConfigFix } from '../core/config/model';
import { TunnelManager } from '../core/manager';
import { configMessage, editorText } from './diagnosisFields';
import { Notifier, REVEAL_FIELD_COMMAND } from './notifier';
import { RuntimeProblem, RuntimeProblems } from './runtimeProblems';
import { SettingsApplied, SettingsProblem, TunnelSettings } from './settings';
import { FieldLocation, SettingsFile, SettingsFiles, rangeOf, userSettingsFile } from './settingsFiles';
import { InvalidEntry, TunnelTreeProvider } from './tunnelTree';

export const PROBLEM_SOURCE = 'mTLS Tunnels';

interface Located {
  diagnostic: vscode.Diagnostic;
  fix?: ConfigFix;
}

export class SettingsProblems implements vscode.Disposable {
  readonly collection = vscode.languages.createDiagnosticCollection('mtlsTunnels');
  readonly files: SettingsFiles;
  readonly runtime: RuntimeProblems;
  private configProblems: SettingsProblem[] = [];
  private located = new Map<string, Located[]>();
  private readonly disposables: vscode.Disposable[] = [this.collection];
  private publishing?: Promise<void>;
  private again = false;

  constructor(
    settings: TunnelSettings,
    private readonly manager: TunnelManager,
    private readonly tree: TunnelTreeProvider,
    notifier: Notifier,
    globalStorage: vscode.Uri,
  ) {
    this.files = new SettingsFiles(settings, userSettingsFile(globalStorage));
    this.runtime = new RuntimeProblems(manager, notifier, () => this.publish());
    this.disposables.push(
      this.runtime,
      settings.onDidApply((applied: SettingsApplied) => {
        this.configProblems = applied.problems;
        this.runtime.restartedBySettings(applied.changed);
        this.tree.setInvalidEntries(invalidEntries(applied.problems, this.files));
        this.publish();
      }),
      vscode.commands.registerCommand(REVEAL_FIELD_COMMAND, (arg: string | ConfigError | InvalidTarget, field?: string) => this.reveal(arg, field)),
      vscode.languages.registerCodeActionsProvider([{ language: 'jsonc' }, { language: 'json' }], {
        provideCodeActions: (document, range) => this.quickFixes(document, range),
      }, { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] }),
    );
  }

  /** Recomputes every entry; overlapping calls collapse into one more run. */
  publish(): Promise<void> {
    if (this.publishing) {
      this.again = true;
      return this.publishing;
    }
    this.publishing = (async () => {
      do {
        this.again = false;
        await this.publishOnce();
      } while (this.again);
    })().finally(() => {
      this.publishing = undefined;
    });
    return this.publishing;
  }

  private async publishOnce(): Promise<void> {
    const byFile = new Map<string, { file: SettingsFile; items: { where: FieldLocation; message: string; severity: vscode.DiagnosticSeverity; fix?: ConfigFix }[] }>();
    const add = (file: SettingsFile | undefined, where: FieldLocation, message: string, severity: vscode.DiagnosticSeverity, fix?: ConfigFix) => {
      if (!file) return;
      const key = file.uri.toString();
      if (!byFile.has(key)) byFile.set(key, { file, items: [] });
      byFile.get(key)!.items.push({ where, message, severity, fix });
    };
    for (const { error, source } of this.configProblems) {
      add(this.files.fileOf(source), whereOf(error), configMessage(error), vscode.DiagnosticSeverity.Error, error.location.fix);
    }
    // Held tunnels, started or not: on the field that waits for the user's word.
    for (const { config } of this.manager.entries()) {
      if (config.hold) add(this.files.fileOfTunnel(config.name), { name: config.name, path: [config.hold.field], target: 'value' }, editorText(`${config.hold.summary} ${config.hold.fix}`), vscode.DiagnosticSeverity.Warning);
    }
    for (const p of this.runtime.current()) {
      if (p.diagnosis.code === 'NEEDS_CONSENT') continue;
      add(this.files.fileOfTunnel(p.tunnel), { name: p.tunnel, path: p.field.split('.'), target: 'value' }, runtimeMessage(p),
        p.diagnosis.severity === 'error' ? vscode.DiagnosticSeverity.Error : p.diagnosis.severity === 'warning' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Information);
    }
    const located = new Map<string, Located[]>();
    for (const [key, { file, items }] of byFile) {
      const text = await this.files.text(file.uri);
      if (text === undefined) continue;
      located.set(key, items.flatMap((item) => {
        const r = rangeOf(text, file.prefix, item.where);
        if (!r) return [];
        const diagnostic = new vscode.Diagnostic(r.range, item.message, item.severity);
        diagnostic.source = PROBLEM_SOURCE;
        return [{ diagnostic, fix: item.fix }];
      }));
    }
    this.collection.clear();
    for (const [key, items] of located) this.collection.set(vscode.Uri.parse(key), items.map((l) => l.diagnostic));
    this.located = located;
  }

  private quickFixes(document: vscode.TextDocument, range: vscode.Range | vscode.Selection): vscode.CodeAction[] {
    const items = this.located.get(document.uri.toString()) ?? [];
    return items.filter((l) => l.fix && l.diagnostic.range.intersection(range)).map(({ diagnostic, fix }) => {
      const replacement = fix!.kind === 'renameKey' ? fix!.to : fix!.value;
      const title = fix!.kind === 'renameKey' ? `Rename the field to "${fix!.to}"` : `Change it to ${JSON.stringify(fix!.value)}`;
      const action = new vscode.CodeAction(title, vscode.CodeActionKind.QuickFix);
      action.edit = new vscode.WorkspaceEdit();
      action.edit.replace(document.uri, diagnostic.range, JSON.stringify(replacement));
      action.diagnostics = [diagnostic];
      action.isPreferred = true;
      return action;
    });
  }

  /** Opens the settings at a field: a tunnel and field name, a ConfigError, or a tree problem item's target. */
  private async reveal(arg: string | ConfigError | InvalidTarget, field?: string): Promise<boolean> {
    if (typeof arg === 'string') return this.files.revealTunnel(arg, field);
    if (arg instanceof ConfigError) {
      const problem = this.configProblems.find((p) => p.error === arg);
      const file = problem && this.files.fileOf(problem.source);
      return file ? this.files.reveal(file, whereOf(arg)) : false;
    }
    return this.files.reveal(arg.file, arg.where);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** What a problem item in the tree opens. */
export interface InvalidTarget {
  file: SettingsFile;
  where: FieldLocation;
}

function whereOf(e: ConfigError): FieldLocation {
  const { index, path, target, missing } = e.location;
  return { index, path, target, missing, ...(index === undefined && !e.tunnel.startsWith('#') && e.tunnel !== '*' ? { name: e.tunnel } : {}) };
}

function runtimeMessage(p: RuntimeProblem): string {
  return `${editorText(`${p.diagnosis.summary} ${p.diagnosis.fix}`)} (${p.age()})`;
}

/** Entries the parser refused, one per index and settings file, named by their name or position. */
function invalidEntries(problems: SettingsProblem[], files: SettingsFiles): InvalidEntry[] {
  const entries = new Map<string, InvalidEntry>();
  for (const { error, source } of problems) {
    const index = error.location.index;
    // A cross-source duplicate is a valid entry left out: it belongs to that name.
    const key = `${source.where}|${index ?? error.tunnel}`;
    const file = files.fileOf(source);
    if (!entries.has(key)) {
      const label = error.tunnel === '*' ? 'mtlsTunnels.tunnels' : error.tunnel.startsWith('#') ? `tunnel ${error.tunnel}` : error.tunnel;
      entries.set(key, { key, label, where: source.where, problems: [] });
    }
    // The row's label names the field; its description is the problem in the parser's words.
    entries.get(key)!.problems.push({ message: editorText(error.message), field: error.field, target: file && { file, where: whereOf(error) } });
  }
  return [...entries.values()];
}
