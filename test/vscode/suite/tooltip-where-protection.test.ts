// A tunnel's tooltip says where it runs (this computer, or which remote host, with how to forward
// its port deliberately) and what protects its listener, in the words `check` uses.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { describeProtection, expectedProtection } from '../../../src/core/tunnel/protection';
import { tunnelEntry, withBackend, withTunnels } from './fixture';

describe('a tunnel\'s tooltip', () => {
  const backend = withBackend();

  it('says where the tunnel runs and what protects it, stopped and running', async () => {
    await withTunnels([tunnelEntry(backend(), 'where')], async (api) => {
      // The Markdown without its escapes, as the user reads it.
      const tooltip = () => (api.tree.tooltipOf(api.tree.tunnelItem('where')!) as vscode.MarkdownString).value.replace(/\\(.)/g, '$1');
      // This host is a VS Code server in a browser: a remote window.
      if (vscode.env.remoteName) {
        assert.match(tooltip(), /Runs on the remote host \(.+\) — its port is on that machine; to use it here, forward it deliberately in the \[Ports view\]\(command:~remote\.forwardedPorts\.focus\) \(\[how\]\(https:\/\/code\.visualstudio\.com\/docs\/[^)]+\)\)/);
      } else {
        assert.match(tooltip(), /Runs on this computer/);
      }
      const expected = process.platform === 'linux' ? /Protection: same-user check: only processes of .* can connect; other local users are refused/ : /Protection: none: /;
      assert.match(tooltip(), expected, 'stopped: what the settings ask for here');
      await vscode.commands.executeCommand('mtlsTunnels.start', 'where');
      const found = api.manager.entry('where')!.counts!.protection!;
      assert.ok(tooltip().includes(`Protection: ${describeProtection(found)}`), tooltip());
      assert.equal(found.kind, expectedProtection(api.manager.entry('where')!.config).kind);
    });
  });
});
