// A tunnel that cannot work says why in one sentence, in the notification and in the tree; never
// a stack trace. The rest keeps working.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';
import { screenshot } from './screenshot';

const STACK = /\n\s+at |\.ts:\d+|\.js:\d+/;

describe('a misconfigured tunnel', () => {
  const backend = withBackend();

  it('shows the diagnosis when its key does not belong to its certificate', async () => {
    const bad = tunnelEntry(backend(), 'mismatched', { key: backend().pki.server.key });
    const good = tunnelEntry(backend(), 'fine');
    await withTunnels([bad, good], async (api) => {
      const before = api.notifications.length;
      const result = await vscode.commands.executeCommand('mtlsTunnels.start', 'mismatched');
      assert.equal(result, undefined);

      const message = await waitFor(() => api.notifications.slice(before).find((m) => m.includes('mismatched')), 'the error notification');
      assert.match(message, /^Tunnel "mismatched": the private key .* does not belong to the certificate .*\. Use the key that was generated with this certificate/);
      assert.doesNotMatch(message, STACK);

      const item = await waitFor(() => {
        const t = api.tree.tunnelItem('mismatched');
        return t?.contextValue === 'tunnel:error' ? t : undefined;
      }, 'the tree item to show the error');
      assert.match((api.tree.tooltipOf(item) as vscode.MarkdownString).value, /does not belong to the certificate/);
      assert.match(api.statusBarText(), /^\$\(warning\) 0\/2 tunnels up$/);
      await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
      await new Promise((r) => setTimeout(r, 300));
      await screenshot('tunnel-error');

      // The other tunnel is not affected.
      await vscode.commands.executeCommand('mtlsTunnels.start', 'fine');
      assert.equal(api.manager.entry('fine')?.state, 'running');
    });
  });

  it('explains a command given a name that is not configured', async () => {
    await withTunnels([tunnelEntry(backend(), 'fine')], async (api) => {
      const before = api.notifications.length;
      await vscode.commands.executeCommand('mtlsTunnels.start', 'nope');
      assert.deepEqual(api.notifications.slice(before), ['There is no tunnel named "nope" in the settings.']);
    });
  });

  it('reports settings problems once, naming tunnel and field, and keeps the valid tunnels', async () => {
    const valid = tunnelEntry(backend(), 'valid');
    const invalid = { ...tunnelEntry(backend(), 'broken'), target: 'no-port-here', protocl: 'tls' };
    await withTunnels([valid, invalid], async (api) => {
      const message = await waitFor(() => api.notifications.find((m) => m.startsWith('Tunnel "broken" is not used: ')), 'the settings warning');
      // One sentence: the first problem on its field, the rest counted where they are listed.
      assert.match(message, /^Tunnel "broken" is not used: ("target": |unknown field "protocl"; did you mean "protocol"\?).* \(1 more in the Problems panel\)\.$/);
      assert.doesNotMatch(message, /`/);
      assert.deepEqual(api.manager.names(), ['valid']);
      const count = api.notifications.filter((m) => m === message).length;
      // An unrelated settings change re-reads the same problems: no second message.
      await vscode.commands.executeCommand('mtlsTunnels.refresh');
      assert.equal(api.notifications.filter((m) => m === message).length, count);
    }, ['valid']);
  });
});
