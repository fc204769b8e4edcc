// A failure nobody just asked about: saving settings whose new key no longer matches the
// certificate leaves the running tunnel on its previous credentials (open connections continue),
// and shows in the tree, in the Problems panel on that tunnel's "key" in settings.json with its
// age, and in one notification whose button edits "key"; the same failure again while that
// notification is up adds no second one; once fixed, nothing stale is left.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { setTunnels, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';
import { screenshot } from './screenshot';

function settingsUri(): vscode.Uri {
  return vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, '.vscode', 'settings.json');
}

function ours(): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(settingsUri()).filter((d) => d.source === 'mTLS Tunnels');
}

describe('a background failure', () => {
  const backend = withBackend();

  it('is shown in the tree, the Problems panel and one notification, and goes when fixed', async function () {
    this.timeout(60_000);
    const b = backend();
    const good = tunnelEntry(b, 'bg');
    const broken = tunnelEntry(b, 'bg', { key: b.pki.server.key });
    await withTunnels([good], async (api) => {
      await vscode.commands.executeCommand('notifications.clearAll');
      await vscode.commands.executeCommand('mtlsTunnels.start', 'bg');
      assert.equal(api.manager.entry('bg')?.state, 'running');
      const before = api.notifications.length;

      // The save: the manager applies it in the background.
      await setTunnels([broken]);
      const index = await waitFor(() => {
        const i = api.notifications.findIndex((m, n) => n >= before && m.startsWith('Tunnel "bg"'));
        return i >= 0 ? i + 1 : undefined;
      }, 'the background failure notification') - 1;
      const message = api.notifications[index];
      assert.match(message, /does not belong to the certificate/);
      assert.doesNotMatch(message, /`|mtls-tunnels inspect/);
      assert.deepEqual(api.notifier.buttons[index], ['Edit "key"', 'Inspect Certificates', 'Show Log']);

      // The Problems panel: on bg's "key" value, with its age.
      const problem = await waitFor(() => ours().find((d) => /does not belong/.test(d.message)), 'the Problems entry');
      const doc = await vscode.workspace.openTextDocument(settingsUri());
      const keyText = JSON.stringify(b.pki.server.key);
      const offset = doc.getText().indexOf(keyText);
      assert.deepEqual(problem.range, new vscode.Range(doc.positionAt(offset), doc.positionAt(offset + keyText.length)));
      assert.match(problem.message, /\((just now|\d+ s ago)\)$/);
      // The change did not take: the tunnel keeps running as it was, and says why.
      assert.equal(api.manager.entry('bg')?.state, 'running');
      const item = await waitFor(() => api.tree.tunnelItem('bg'), 'the tree row');
      assert.match((api.tree.tooltipOf(item!) as vscode.MarkdownString).value, /does not belong to the certificate.*\*\((just now|\d+ s ago)\)\*/s);

      // Edit "key" opens settings.json with the cursor on that value.
      await vscode.commands.executeCommand('mtlsTunnels.revealSettingsField', 'bg', 'key');
      const editor = await waitFor(() => vscode.window.activeTextEditor?.document.uri.toString() === settingsUri().toString() && vscode.window.activeTextEditor, 'the settings editor');
      assert.deepEqual(editor.selection, new vscode.Selection(problem.range.start, problem.range.end));
      await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
      await vscode.commands.executeCommand('workbench.actions.view.problems');
      await screenshot('background-failure');
      await vscode.commands.executeCommand('notifications.showList');
      await screenshot('background-failure-notification');
      await vscode.commands.executeCommand('notifications.hideList');

      // Fixed: the change takes, the Problems entry goes with the stale diagnosis, the tunnel runs on.
      await setTunnels([good]);
      await waitFor(() => ours().length === 0 || undefined, 'the Problems entry to go');
      assert.equal(api.manager.entry('bg')?.state, 'running');
      const fixed = api.tree.tunnelItem('bg')!;
      assert.equal(fixed.contextValue, 'tunnel:running');
      assert.doesNotMatch((api.tree.tooltipOf(fixed) as vscode.MarkdownString).value, /does not belong/);

      // The same failure again while its notification is still up: the Problems entry, no second message.
      const shown = api.notifications.filter((m) => m === message).length;
      await setTunnels([broken]);
      await waitFor(() => ours().find((d) => /does not belong/.test(d.message)), 'the Problems entry again');
      assert.equal(api.notifications.filter((m) => m === message).length, shown);
    });
  });
});
