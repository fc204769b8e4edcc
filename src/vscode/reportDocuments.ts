/**
 * Read-only text documents for what the extension reports at length: certificate inspections and
 * connection tests. Served from memory under the `mtls-tunnels:` scheme, so they can be read,
 * searched and copied, but never saved over anything. They are in their own language,
 * `mtls-tunnels-report`, whose defaults (package.json) wrap long lines: a diagnosis is one long
 * sentence, and it must not run off screen.
 */
import * as vscode from 'vscode';

export const REPORT_SCHEME = 'mtls-tunnels';
export const REPORT_LANGUAGE = 'mtls-tunnels-report';

export class ReportDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[];

  constructor() {
    this.disposables = [
      this.changed,
      vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, this),
      vscode.workspace.onDidCloseTextDocument((d) => {
        if (d.uri.scheme === REPORT_SCHEME) this.texts.delete(d.uri.toString());
      }),
    ];
  }

  /** Opens (or updates) the document `title` with `text`, beside nothing, as a preview. */
  async show(title: string, text: string): Promise<vscode.TextEditor> {
    const uri = vscode.Uri.from({ scheme: REPORT_SCHEME, path: `/${title.replace(/[/\\]/g, '_')}.txt` });
    this.texts.set(uri.toString(), text);
    this.changed.fire(uri);
    let document = await vscode.workspace.openTextDocument(uri);
    if (document.languageId !== REPORT_LANGUAGE) document = await vscode.languages.setTextDocumentLanguage(document, REPORT_LANGUAGE);
    return vscode.window.showTextDocument(document, { preview: true });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? 'This report is gone; run the command again.\n';
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
