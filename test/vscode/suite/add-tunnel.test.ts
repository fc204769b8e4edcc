// "Add Tunnel…" writes one valid entry into the workspace settings, with portable paths and a
// free local port; answers passed in are not asked.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { extensionApi, setTunnels, waitFor, withBackend } from './fixture';

describe('Add Tunnel', () => {
  const backend = withBackend();

  it('writes a valid entry on a free port into the workspace settings', async () => {
    const api = await extensionApi();
    const config = () => vscode.workspace.getConfiguration('mtlsTunnels');
    const previous = config().inspect('tunnels')?.workspaceValue;
    try {
      const { pki, server } = backend();
      const name = await vscode.commands.executeCommand('mtlsTunnels.addTunnel', {
        name: 'added', protocol: 'tls', target: `localhost:${server.port}`, cert: pki.client.cert, key: pki.client.key, ca: pki.ca, listen: 'free',
      });
      assert.equal(name, 'added');
      const written = config().inspect<Array<Record<string, unknown>>>('tunnels')?.workspaceValue;
      assert.equal(written?.length, 1);
      const entry = written![0];
      assert.deepEqual(Object.keys(entry), ['name', 'listen', 'target', 'protocol', 'cert', 'key', 'ca']);
      assert.equal(typeof entry.listen, 'number');
      assert.ok(await isFree(entry.listen as number), `port ${entry.listen} is not free`);

      await waitFor(() => api.manager.entry('added'), 'the manager to pick up the new tunnel');
      const address = await vscode.commands.executeCommand<string>('mtlsTunnels.start', 'added');
      assert.equal(address, `127.0.0.1:${entry.listen}`);
    } finally {
      await api.manager.stopAll();
      await setTunnels(previous);
    }
  });
});

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
