// Tunnels defined only in the user settings: their problems are marked in the user settings file.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { extensionApi, tunnelEntry, waitFor, withBackend } from './fixture';

describe('user settings problems', () => {
  const backend = withBackend();

  it('land in the user settings file when the value in effect is the user\'s', async () => {
    const api = await extensionApi();
    const config = () => vscode.workspace.getConfiguration('mtlsTunnels');
    const previous = config().inspect('tunnels')?.workspaceValue;
    try {
      await config().update('tunnels', undefined, vscode.ConfigurationTarget.Workspace);
      await config().update('tunnels', [tunnelEntry(backend(), 'user-open', { listen: '0.0.0.0:15998' })], vscode.ConfigurationTarget.Global);
      const found = await waitFor(() => {
        for (const [uri, list] of vscode.languages.getDiagnostics()) {
          const d = list.find((x) => x.source === 'mTLS Tunnels' && /not a loopback/.test(x.message));
          if (d) return { uri, d };
        }
        return undefined;
      }, 'the problem in the user settings');
      assert.match(found.uri.path, /\/User\/settings\.json$/);
      const doc = await vscode.workspace.openTextDocument(found.uri);
      const offset = doc.getText().indexOf('"0.0.0.0:15998"');
      assert.ok(offset >= 0);
      assert.deepEqual(found.d.range, new vscode.Range(doc.positionAt(offset), doc.positionAt(offset + '"0.0.0.0:15998"'.length)));
      assert.deepEqual(api.manager.names(), []);
    } finally {
      await config().update('tunnels', undefined, vscode.ConfigurationTarget.Global);
      await config().update('tunnels', previous, vscode.ConfigurationTarget.Workspace);
    }
  });
});
