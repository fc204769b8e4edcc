// Start All brings every tunnel up; Stop All leaves no listener behind.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { EchoClient, noConnections, portOf, tryConnect, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

describe('Start All and Stop All', () => {
  const backend = withBackend();

  it('start every tunnel, then leave nothing listening', async () => {
    await withTunnels([tunnelEntry(backend(), 'one'), tunnelEntry(backend(), 'two')], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.startAll');
      const ports = ['one', 'two'].map((n) => portOf(api, n));
      for (const port of ports) {
        const client = await EchoClient.connect(port);
        try {
          assert.equal(await client.echo(`to ${port}`), `to ${port}`);
        } finally {
          client.close();
        }
      }
      await waitFor(() => api.statusBarText() === '$(lock) 2 tunnels up' || undefined, 'the status bar to show 2 tunnels up');

      for (const name of ['one', 'two']) await noConnections(api, name);
      await vscode.commands.executeCommand('mtlsTunnels.stopAll');
      for (const port of ports) assert.equal(await tryConnect(port), 'ECONNREFUSED');
      assert.deepEqual(api.manager.entries().map((e) => e.state), ['stopped', 'stopped']);
      await waitFor(() => api.statusBarText() === '$(unlock) 0/2 tunnels up' || undefined, 'the status bar to show 0/2');
    });
  });
});
