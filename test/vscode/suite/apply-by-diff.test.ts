// Editing one tunnel's settings changes that tunnel only: a connection open through another
// running tunnel keeps flowing, on the same Tunnel object; the edited one takes the new settings
// for new connections without a restart.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { EchoClient, portOf, setTunnels, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

describe('changing the settings of one tunnel', () => {
  const backend = withBackend();

  it('keeps the open connections of the others', async function () {
    this.timeout(60_000);
    const a = tunnelEntry(backend(), 'kept');
    const b = tunnelEntry(backend(), 'edited');
    await withTunnels([a, b], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.start', 'kept');
      await vscode.commands.executeCommand('mtlsTunnels.start', 'edited');
      const kept = api.manager.tunnel('kept');
      const edited = api.manager.tunnel('edited');
      const client = await EchoClient.connect(portOf(api, 'kept'));
      try {
        assert.equal(await client.echo('before'), 'before');
        await waitFor(() => api.statusBarText() === '$(lock) 2 tunnels up' || undefined, 'the status bar to show 2 tunnels up');

        await setTunnels([a, { ...b, connectTimeoutMs: 4000 }]);
        // The edited one was running: it takes the new settings for new connections, not restarted.
        await waitFor(() => api.manager.tunnel('edited')?.config.connectTimeoutMs === 4000 || undefined, 'the edited tunnel to take the new settings');
        assert.equal(api.manager.tunnel('edited'), edited, 'the edited tunnel was restarted');
        assert.equal(api.manager.entry('edited')?.state, 'running');
        assert.equal(api.manager.entry('edited')?.config.connectTimeoutMs, 4000);

        assert.equal(api.manager.tunnel('kept'), kept, 'the untouched tunnel was replaced');
        assert.equal(await client.echo('after'), 'after');
        assert.equal(api.manager.entry('kept')?.snapshot?.openConnections, 1);
        assert.equal(api.manager.entry('kept')?.snapshot?.totalConnections, 1);
      } finally {
        client.close();
      }
    });
  });
});
