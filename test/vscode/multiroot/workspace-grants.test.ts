// In a multi-root workspace a folder's settings and the .code-workspace file cannot open the door
// by themselves either: "allowOtherUsers" in folder beta's settings and a non-loopback listen
// ("unsafeListen") in the workspace file hold their tunnels, each marked in its own file and named
// in the question; allowing one leaves the other held.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { GrantQuestion } from '../../../src/vscode/workspaceGrants';
import { extensionApi, tunnelEntry, waitFor, withBackend } from '../suite/fixture';

const { Workspace, WorkspaceFolder } = vscode.ConfigurationTarget;

const heldIn = (uri: vscode.Uri) => vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'mTLS Tunnels' && /waits for your permission/.test(d.message));

describe('multi-root: workspace permissions', () => {
  const backend = withBackend();

  it('hold a folder\'s "allowOtherUsers" and the workspace file\'s "unsafeListen", each in its own file', async function () {
    this.timeout(60_000);
    const api = await extensionApi();
    const [, beta] = vscode.workspace.workspaceFolders!;
    const config = (f?: vscode.WorkspaceFolder) => vscode.workspace.getConfiguration('mtlsTunnels', f?.uri);
    const asked: GrantQuestion[] = [];
    const seam = api.answerGrantQuestions!((q) => {
      asked.push(q);
      return 'Allow';
    });
    try {
      await config(beta).update('tunnels', [tunnelEntry(backend(), 'beta-shared', { allowOtherUsers: true })], WorkspaceFolder);
      await config().update('tunnels', [tunnelEntry(backend(), 'wide', { listen: '0.0.0.0:0', unsafeListen: true })], Workspace);
      await waitFor(() => api.manager.names().sort().join() === 'beta-shared,wide', 'both tunnels');
      assert.equal(api.manager.entry('beta-shared')?.config.hold?.field, 'allowOtherUsers');
      assert.match(api.manager.entry('beta-shared')!.config.hold!.summary, /in the settings of folder beta/);
      assert.equal(api.manager.entry('wide')?.config.hold?.field, 'unsafeListen');
      assert.match(api.manager.entry('wide')!.config.hold!.summary, /"unsafeListen" in the workspace file would let other machines on 0\.0\.0\.0:0 use your client certificate/);

      const betaFile = vscode.Uri.joinPath(beta.uri, '.vscode', 'settings.json');
      const workspaceFile = vscode.workspace.workspaceFile!;
      await waitFor(() => heldIn(betaFile).length === 1 && heldIn(workspaceFile).length === 1, 'each hold in its own file');

      await vscode.commands.executeCommand('mtlsTunnels.allowForWorkspace', 'wide');
      assert.deepEqual(asked.map((q) => q.message), ['"wide" would accept connections from other machines on 0.0.0.0:0, presenting your client certificate.']);
      assert.match(asked[0].detail, /^The workspace file set "unsafeListen": true\./);
      await waitFor(() => !api.manager.entry('wide')?.config.hold, 'the allowed tunnel to be free');
      assert.ok(api.manager.entry('beta-shared')?.config.hold, 'the other stays held');
      await waitFor(() => heldIn(workspaceFile).length === 0 && heldIn(betaFile).length === 1, 'only beta\'s hold left in the Problems panel');
    } finally {
      seam.dispose();
      await vscode.commands.executeCommand('mtlsTunnels.forgetWorkspacePermissions');
      await api.manager.stopAll();
      await config(beta).update('tunnels', undefined, WorkspaceFolder);
      await config().update('tunnels', undefined, Workspace);
    }
  });
});
