// The settings schema in package.json is what the editor checks settings.json against: an
// unknown field, a bad enum value or a passphrase written in clear get a squiggle, a valid
// entry (with a list of targets) gets none.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { setTunnels, waitFor } from './fixture';

describe('the tunnels settings schema', () => {
  it('flags unknown fields, bad values and clear-text passphrases in settings.json', async function () {
    this.timeout(60_000);
    const settings = vscode.Uri.file(path.join(vscode.workspace.workspaceFolders![0].uri.fsPath, '.vscode', 'settings.json'));
    const previous = vscode.workspace.getConfiguration('mtlsTunnels').inspect('tunnels')?.workspaceValue;
    const good = { name: 'good', listen: 15432, target: ['db-a.internal:5432', 'db-b.internal:5432'], targetPolicy: 'round-robin', protocol: 'postgres', cert: '${userHome}/c.crt', key: '${userHome}/c.key' };
    const bad = { name: 'bad', listen: 'everywhere', target: 'db.internal', protocol: 'postgre', cert: '/c.crt', key: '/c.key', passphrase: 'hunter2', protocl: 'tls' };
    try {
      await setTunnels([good, bad], ['good']);
      await vscode.window.showTextDocument(settings);
      const diagnostics = await waitFor(() => {
        const d = vscode.languages.getDiagnostics(settings);
        // The extension's own problems arrive first; the schema's come from the JSON language server.
        return d.some((x) => /A port like 15432/.test(x.message)) ? d : undefined;
      }, 'the JSON language server to validate settings.json', 30_000);
      const messages = diagnostics.map((d) => d.message).join('\n');
      assert.match(messages, /protocl/);
      assert.match(messages, /"postgre"|postgre\b|Value is not accepted/);
      assert.match(messages, /"host:port" of the mTLS server/);
      assert.match(messages, /A port like 15432/);
      assert.match(messages, /a passphrase is never written in settings/);
      const text = (await vscode.workspace.openTextDocument(settings)).getText();
      const goodEnd = text.indexOf('"name": "bad"');
      assert.ok(diagnostics.every((d) => (vscode.window.activeTextEditor!.document.offsetAt(d.range.start)) > goodEnd), `a diagnostic on the valid entry:\n${messages}`);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      await setTunnels(previous);
    }
  });
});
