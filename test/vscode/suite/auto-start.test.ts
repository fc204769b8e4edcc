// A tunnel marked autoStart starts as soon as it appears in the settings of a trusted workspace.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { EchoClient, portOf, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

describe('autoStart', () => {
  const backend = withBackend();

  it('starts the tunnels that ask for it, and only those', async () => {
    assert.equal(vscode.workspace.isTrusted, true, 'the test workspace should be trusted');
    await withTunnels([tunnelEntry(backend(), 'eager', { autoStart: true }), tunnelEntry(backend(), 'lazy')], async (api) => {
      await waitFor(() => api.manager.entry('eager')?.state === 'running', 'the autoStart tunnel to run');
      assert.equal(api.manager.entry('lazy')?.state, 'stopped');
      const client = await EchoClient.connect(portOf(api, 'eager'));
      try {
        assert.equal(await client.echo('early'), 'early');
      } finally {
        client.close();
      }
    });
  });
});
