// In a multi-root workspace the Problems entry lands in the file that holds the value in effect:
// the .code-workspace file for its own "settings", a folder's .vscode/settings.json for that
// folder's entries, each on the exact field.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { extensionApi, tunnelEntry, waitFor, withBackend } from '../suite/fixture';

const { Workspace, WorkspaceFolder } = vscode.ConfigurationTarget;

function ours(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'mTLS Tunnels');
}

async function rangeOfText(uri: vscode.Uri, needle: string): Promise<vscode.Range> {
  const doc = await vscode.workspace.openTextDocument(uri);
  const offset = doc.getText().indexOf(needle);
  assert.ok(offset >= 0, `${needle} is in ${uri.fsPath}`);
  return new vscode.Range(doc.positionAt(offset), doc.positionAt(offset + needle.length));
}

describe('multi-root settings problems', () => {
  const backend = withBackend();

  it('marks the workspace file\'s and a folder\'s entries in their own files', async () => {
    const api = await extensionApi();
    const b = backend();
    const [, beta] = vscode.workspace.workspaceFolders!;
    const config = (f?: vscode.WorkspaceFolder) => vscode.workspace.getConfiguration('mtlsTunnels', f?.uri);
    const workspaceFile = vscode.workspace.workspaceFile!;
    const betaSettings = vscode.Uri.joinPath(beta.uri, '.vscode', 'settings.json');
    try {
      await config().update('tunnels', [tunnelEntry(b, 'shared-open', { listen: '0.0.0.0:15999' })], Workspace);
      const { cert, ...rest } = tunnelEntry(b, 'beta-typo');
      await config(beta).update('tunnels', [{ ...rest, cetr: cert }], WorkspaceFolder);
      const listen = await waitFor(() => ours(workspaceFile).find((d) => /not a loopback address/.test(d.message)), 'the problem in the workspace file');
      assert.deepEqual(listen.range, await rangeOfText(workspaceFile, '"0.0.0.0:15999"'));
      const typo = await waitFor(() => ours(betaSettings).find((d) => /unknown field "cetr"/.test(d.message)), 'the problem in beta\'s settings');
      assert.deepEqual(typo.range, await rangeOfText(betaSettings, '"cetr"'));
      assert.equal(ours(workspaceFile).some((d) => /cetr/.test(d.message)), false, 'each problem only in its own file');
      assert.deepEqual(api.manager.names(), []);
    } finally {
      await config(beta).update('tunnels', undefined, WorkspaceFolder);
      await config().update('tunnels', undefined, Workspace);
    }
    await waitFor(() => (ours(workspaceFile).length === 0 && ours(betaSettings).length === 0) || undefined, 'the problems to go with the entries');
  });
});
