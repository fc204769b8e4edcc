// Workspace settings cannot open the door by themselves: "allowOtherUsers": true in the
// workspace's .vscode/settings.json holds the tunnel (not started; the reason in its tree row, on
// the field in the Problems panel, and a notification with "Allow for this workspace…") until the
// user allows it in the modal, which names what would be exposed; then it starts. Forget
// Workspace Permissions restores the refusal. The same entry in the user's own settings starts
// without a question. VS Code refuses modal dialogs in extension tests, so the answer comes
// through the TestApi's seam (workspaceGrants.ts), the button a user would click.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { TestApi } from '../../../src/extension';
import type { GrantQuestion } from '../../../src/vscode/workspaceGrants';
import { EchoClient, extensionApi, portOf, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

const SOURCE = 'mTLS Tunnels';

function held(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === SOURCE && /waits for your permission/.test(d.message));
}

/** Runs `body` with the grant question answered by `button`; resolves with the questions asked. */
async function answering(api: TestApi, button: string | undefined, body: () => Thenable<unknown>): Promise<GrantQuestion[]> {
  const asked: GrantQuestion[] = [];
  const seam = api.answerGrantQuestions!((q) => {
    asked.push(q);
    return button;
  });
  try {
    await body();
    return asked;
  } finally {
    seam.dispose();
  }
}

describe('workspace settings that let others in', () => {
  const backend = withBackend();

  it('hold the tunnel until the user allows it for this workspace; forgetting holds it again', async function () {
    this.timeout(60_000);
    await withTunnels([tunnelEntry(backend(), 'shared-db', { allowOtherUsers: true })], async (api) => {
      try {
        const settingsFile = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, '.vscode', 'settings.json');
        const before = api.notifications.length;
        await vscode.commands.executeCommand('mtlsTunnels.start', 'shared-db');
        const entry = api.manager.entry('shared-db')!;
        assert.equal(entry.state, 'error');
        assert.equal(entry.lastDiagnosis?.code, 'NEEDS_CONSENT');
        assert.equal(api.manager.tunnel('shared-db')?.address(), undefined, 'nothing listens');

        // The tree row says why, and its tooltip offers the answer.
        const item = api.tree.tunnelItem('shared-db')!;
        assert.match(String(item.description), /^waits for your permission · /);
        assert.match(item.contextValue!, /^tunnel:error:held$/);
        const tooltip = (api.tree.tooltipOf(item) as vscode.MarkdownString).value;
        assert.match(tooltip, /"allowOtherUsers" in the workspace settings would let other users on this machine use your client certificate/);
        assert.match(tooltip, /\[Allow for this workspace…\]\(command:mtlsTunnels\.allowForWorkspace\?/);

        // A notification with the button, and a warning on the field in the settings file.
        const shown = api.notifications.slice(before).findIndex((m) => /waits for your permission/.test(m));
        assert.ok(shown >= 0, `a notification says why: ${api.notifications.slice(before).join(' | ')}`);
        assert.equal(api.notifier.buttons[before + shown][0], 'Allow for this workspace…');
        const [problem] = await waitFor(() => held(settingsFile).length === 1 && held(settingsFile), 'the held field in the Problems panel');
        assert.equal(problem.severity, vscode.DiagnosticSeverity.Warning);
        const doc = await vscode.workspace.openTextDocument(settingsFile);
        assert.equal(doc.getText(problem.range), 'true');
        assert.match(doc.lineAt(problem.range.start.line).text, /"allowOtherUsers"/);

        // Cancel: still held.
        const cancelled = await answering(api, undefined, () => vscode.commands.executeCommand('mtlsTunnels.allowForWorkspace', 'shared-db'));
        assert.deepEqual(cancelled.map((q) => q.message), ['"shared-db" would accept connections from other users on this machine, presenting your client certificate.']);
        assert.match(cancelled[0].detail, /workspace settings set "allowOtherUsers": true/);
        assert.ok(api.manager.entry('shared-db')?.config.hold, 'cancelled: still held');

        // Allow: the tunnel the user had asked for starts, with the setting in effect.
        const allowed = await answering(api, 'Allow', () => vscode.commands.executeCommand('mtlsTunnels.allowForWorkspace', 'shared-db'));
        assert.equal(allowed.length, 1);
        await waitFor(() => api.manager.entry('shared-db')?.state === 'running', 'the allowed tunnel to start');
        assert.equal(api.manager.entry('shared-db')?.config.hold, undefined);
        assert.equal(api.manager.entry('shared-db')?.counts?.protection?.kind, 'none');
        const client = await EchoClient.connect(portOf(api, 'shared-db'));
        try {
          assert.equal(await client.echo('allowed'), 'allowed');
        } finally {
          client.close();
        }
        await waitFor(() => held(settingsFile).length === 0, 'the Problems entry to go');
        assert.doesNotMatch(String(api.tree.tunnelItem('shared-db')!.description), /waits for your permission/);

        // Forget: the running tunnel stops (nothing was open), and starting it is refused again.
        await waitFor(() => (api.manager.entry('shared-db')?.snapshot?.openConnections ?? 0) === 0, 'the client to be gone');
        assert.equal(await vscode.commands.executeCommand('mtlsTunnels.forgetWorkspacePermissions'), 1);
        await waitFor(() => api.manager.entry('shared-db')?.state === 'stopped', 'the tunnel to stop');
        assert.ok(api.manager.entry('shared-db')?.config.hold);
        await vscode.commands.executeCommand('mtlsTunnels.start', 'shared-db');
        assert.equal(api.manager.entry('shared-db')?.state, 'error');
        assert.equal(api.manager.entry('shared-db')?.lastDiagnosis?.code, 'NEEDS_CONSENT');
      } finally {
        await vscode.commands.executeCommand('mtlsTunnels.forgetWorkspacePermissions');
      }
    });
  });

  it('in the user\'s own settings start without a question', async function () {
    this.timeout(30_000);
    const api = await extensionApi();
    const config = () => vscode.workspace.getConfiguration('mtlsTunnels');
    const previous = config().inspect('tunnels')?.workspaceValue;
    try {
      await config().update('tunnels', undefined, vscode.ConfigurationTarget.Workspace);
      await config().update('tunnels', [tunnelEntry(backend(), 'user-shared', { allowOtherUsers: true })], vscode.ConfigurationTarget.Global);
      await waitFor(() => api.manager.names().includes('user-shared'), 'the user settings tunnel');
      const asked = await answering(api, 'Allow', () => vscode.commands.executeCommand('mtlsTunnels.start', 'user-shared'));
      assert.deepEqual(asked, []);
      assert.equal(api.manager.entry('user-shared')?.state, 'running');
      assert.equal(api.manager.entry('user-shared')?.config.hold, undefined);
      assert.equal(api.manager.entry('user-shared')?.counts?.protection?.kind, 'none');
    } finally {
      await api.manager.stopAll();
      await config().update('tunnels', undefined, vscode.ConfigurationTarget.Global);
      await config().update('tunnels', previous, vscode.ConfigurationTarget.Workspace);
    }
  });
});
