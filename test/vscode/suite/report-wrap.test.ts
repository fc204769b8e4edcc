// Reports wrap: a certificate inspection (or a connection test) opens as a read-only document in
// the extension's report language, whose default is word wrap, so a long diagnosis sentence
// stays on screen.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';
import { screenshot } from './screenshot';

describe('report documents', () => {
  const backend = withBackend();

  it('open in the report language, which wraps long lines', async () => {
    await withTunnels([tunnelEntry(backend(), 'inspected')], async () => {
      const text = await vscode.commands.executeCommand<string>('mtlsTunnels.inspectCertificates', 'inspected');
      assert.ok(text);
      const editor = await waitFor(() => vscode.window.activeTextEditor?.document.uri.scheme === 'mtls-tunnels' && vscode.window.activeTextEditor, 'the report editor');
      assert.equal(editor.document.languageId, 'mtls-tunnels-report');
      assert.equal(vscode.workspace.getConfiguration('editor', { languageId: 'mtls-tunnels-report' }).get('wordWrap'), 'on');
      await new Promise((r) => setTimeout(r, 300));
      await screenshot('report-wraps');
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    });
  });
});
