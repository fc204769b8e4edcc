// A tunnel from the settings, started by command: bytes echo through it, the tree shows it
// running with its connection and client certificate, the status bar counts it, and once it is
// stopped nothing listens on its port any more.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { ConnectionItem, TunnelItem } from '../../../src/vscode/tunnelTree';
import { EchoClient, noConnections, portOf, tryConnect, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';
import { screenshot } from './screenshot';

describe('a tunnel started from the settings', () => {
  const backend = withBackend();

  it('lists the tunnel stopped, with its addresses and no status bar count yet', async () => {
    await withTunnels([tunnelEntry(backend(), 'echo')], async (api) => {
      const [item] = api.tree.getChildren() as TunnelItem[];
      assert.equal(item.label, 'echo');
      assert.equal(item.contextValue, 'tunnel:stopped');
      assert.equal(item.description, `127.0.0.1:0 → 127.0.0.1:${backend().server.port} · tls`);
      await waitFor(() => api.statusBarText() === '$(unlock) 0/1 tunnel up' || undefined, 'the status bar to show 0/1');
    });
  });

  it('echoes bytes, shows the connection and the certificate, and refuses connections once stopped', async function () {
    this.timeout(60_000);
    await withTunnels([tunnelEntry(backend(), 'echo')], async (api) => {
      const address = await vscode.commands.executeCommand<string>('mtlsTunnels.start', 'echo');
      const port = portOf(api, 'echo');
      assert.equal(address, `127.0.0.1:${port}`);

      const client = await EchoClient.connect(port);
      try {
        assert.equal(await client.echo('hello through mTLS'), 'hello through mTLS');

        const item = await waitFor(() => {
          const t = api.tree.tunnelItem('echo');
          return t?.contextValue === 'tunnel:running' ? t : undefined;
        }, 'the tree item to be running');
        // The row counts the open connection; the tooltip is built on hover (resolveTreeItem).
        await waitFor(() => item.description === `1 open · 127.0.0.1:${port} → 127.0.0.1:${backend().server.port} · tls` || undefined, 'the row to count the connection');
        assert.match(String((api.tree.tooltipOf(item) as vscode.MarkdownString).value), /Connections: 1 open, 1 in all/);
        await waitFor(() => api.statusBarText() === '$(lock) 1 tunnel up' || undefined, 'the status bar to show 1 tunnel up');

        const children = await waitFor(() => {
          const c = api.tree.getChildren(item);
          return c.some((x) => x.contextValue?.startsWith('certificate:client')) ? c : undefined;
        }, 'the client certificate item');
        const connection = children.find((c) => c.contextValue === 'connection:open') as ConnectionItem | undefined;
        assert.ok(connection, `no open connection among ${children.map((c) => c.label).join(', ')}`);
        assert.equal(connection.label, client.localAddress);
        assert.match(String(connection.description), /↑ 18 B ↓ 18 B$/);
        const certificate = children.find((c) => c.contextValue === 'certificate:client')!;
        assert.equal(certificate.label, 'alice');
        assert.match(String(certificate.description), /^client · \d+ days left$/);

        await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
        await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
        await api.view.reveal(item, { expand: true, select: true, focus: true });
        await new Promise((r) => setTimeout(r, 500));
        await screenshot('tunnel-running');
      } finally {
        client.close();
      }

      await noConnections(api, 'echo');
      await vscode.commands.executeCommand('mtlsTunnels.stop', api.tree.tunnelItem('echo'));
      assert.equal(api.manager.entry('echo')?.state, 'stopped');
      assert.equal(await tryConnect(port), 'ECONNREFUSED');
      await waitFor(() => api.tree.tunnelItem('echo')?.contextValue === 'tunnel:stopped', 'the tree item to be stopped');
    });
  });

  it('hides the status bar item when no tunnel is configured', async () => {
    await withTunnels([], async (api) => {
      await waitFor(() => api.statusBarText() === '', 'the status bar item to hide');
      assert.deepEqual(api.tree.getChildren(), []);
      await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
      await new Promise((r) => setTimeout(r, 300));
      await screenshot('tunnels-welcome');
    });
  });
});
