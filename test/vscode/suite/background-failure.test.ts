// A failure nobody just asked about: saving settings whose new key no longer matches the
// certificate leaves the running tunnel on its previous credentials (open connections continue),
// and shows in the tree, in the Problems panel on that tunnel's "key" in settings.json with its
// age, and in one notification whose button edits "key"; the same failure again while that
// notification is up adds no second one; once fixed, nothing stale is left, and a line says so.
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

      // The same failure again while its notification is still up (another save, same bad key):
      // the Problems entry stays, no second message.
      const shown = api.notifications.filter((m) => m === message).length;
      await setTunnels([{ ...broken, connectTimeoutMs: 4000 }]);
      await waitFor(() => api.manager.entry('bg')?.config.connectTimeoutMs === 4000 || undefined, 'the second save to be applied');
      await waitFor(() => ours().find((d) => /does not belong/.test(d.message)), 'the Problems entry still');
      assert.equal(api.notifications.filter((m) => m === message).length, shown);
      assert.equal(api.tree.tunnelItem('bg')!.contextValue, 'tunnel:running');
      assert.equal((api.tree.tunnelItem('bg')!.iconPath as vscode.ThemeIcon).id, 'warning', 'the row says the change did not take');

      // Fixed: the change takes, the Problems entry goes with the stale diagnosis, the tunnel runs
      // on, and since the warning is still up, one line says it is fixed (VS Code cannot take a
      // notification back: the latest word must be true).
      const beforeFix = api.notifications.length;
      await setTunnels([good]);
      await waitFor(() => ours().length === 0 || undefined, 'the Problems entry to go');
      assert.equal(api.manager.entry('bg')?.state, 'running');
      const fixed = api.tree.tunnelItem('bg')!;
      assert.equal(fixed.contextValue, 'tunnel:running');
      assert.notEqual((fixed.iconPath as vscode.ThemeIcon).id, 'warning');
      assert.doesNotMatch((api.tree.tooltipOf(fixed) as vscode.MarkdownString).value, /does not belong/);
      const after = await waitFor(() => api.notifications.slice(beforeFix).find((m) => /^Tunnel "bg" is running with its current settings again/.test(m)), 'the line that says it is fixed');
      assert.equal(api.notifications.slice(beforeFix).filter((m) => m === after).length, 1);

      // Broken again after that: the latest word was "fixed", so this is a new notification.
      await setTunnels([broken]);
      await waitFor(() => api.notifications.slice(beforeFix).includes(message) || undefined, 'a new notification for the new failure');
    });
  });
});
