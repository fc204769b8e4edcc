// A tunnel with two targets, the first down: the tree's tunnel row says there is more than one,
// its connection row names the target the connection reached (the second), and the tooltip
// lists both with their server names.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { ConnectionItem } from '../../../src/vscode/tunnelTree';
import { EchoClient, portOf, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

/** A port nothing listens on: bound by the kernel, then released. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('a tunnel with several targets', () => {
  const backend = withBackend();

  it('shows which target a connection uses, and the first one skipped', async function () {
    this.timeout(60_000);
    const down = await freePort();
    const up = backend().server.port;
    await withTunnels([tunnelEntry(backend(), 'pair', { target: [`127.0.0.1:${down}`, `127.0.0.1:${up}`] })], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.start', 'pair');
      const port = portOf(api, 'pair');
      const client = await EchoClient.connect(port);
      try {
        assert.equal(await client.echo('past the first target'), 'past the first target');
        const item = await waitFor(() => {
          const t = api.tree.tunnelItem('pair');
          return t?.contextValue === 'tunnel:running' && String(t.description).startsWith('1 open') ? t : undefined;
        }, 'the tunnel row to count the connection');
        assert.equal(item.description, `1 open · 127.0.0.1:${port} → 127.0.0.1:${down} +1 · tls`);
        const connection = await waitFor(() => {
          const c = api.tree.getChildren(item).find((x) => x.contextValue === 'connection:open') as ConnectionItem | undefined;
          return c && String(c.description).startsWith('→') ? c : undefined;
        }, 'the connection row to name its target');
        assert.match(String(connection.description), new RegExp(`^→ 127\\.0\\.0\\.1:${up} · `));
        const tooltip = String((api.tree.tooltipOf(item) as vscode.MarkdownString).value);
        assert.match(tooltip, /2 targets \(failover\)/);
        for (const p of [down, up]) assert.ok(tooltip.includes(`- \`127.0.0.1:${p}\`, server name \`localhost\``), tooltip);
      } finally {
        client.close();
      }
    });
  });
});
