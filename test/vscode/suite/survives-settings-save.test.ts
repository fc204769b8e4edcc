// A live session survives a settings save: with an echo connection open through a running tunnel,
// `.vscode/settings.json` is rewritten on disk (as an editor save or a teammate's pull does) with
// another `ca`, then with another `listen`. The open connection keeps echoing through both; new
// connections use the new settings; the new port accepts and the old one is let go.
// Needs the engine's apply-without-cutting (issue 8): before it, the manager restarts the tunnel.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { EchoClient, portOf, tryConnect, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Rewrites the workspace's settings file on disk with that tunnel list, keeping every other setting. */
async function saveSettingsFile(entries: unknown[]): Promise<void> {
  const file = path.join(process.env.MTLS_TUNNELS_TEST_WORKSPACE!, '.vscode', 'settings.json');
  const settings = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  settings['mtlsTunnels.tunnels'] = entries;
  await fs.writeFile(file, JSON.stringify(settings, null, 2));
}

describe('a live connection survives a settings save', () => {
  const backend = withBackend();

  it('keeps echoing through a changed ca and a changed listen; the new port accepts', async function () {
    this.timeout(60_000);
    const [first, second] = [await freePort(), await freePort()];
    const entry = (overrides: Record<string, unknown>) => tunnelEntry(backend(), 'live', { listen: first, ...overrides });
    await withTunnels([entry({})], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.start', 'live');
      assert.equal(portOf(api, 'live'), first);
      const session = await EchoClient.connect(first);
      try {
        assert.equal(await session.echo('before any change'), 'before any change');

        // Another CA file that still trusts the server: new connections use it, the session goes on.
        await saveSettingsFile([entry({ ca: backend().pki.caBundle })]);
        await waitFor(() => api.manager.entry('live')?.config.ca === backend().pki.caBundle, 'the new ca to be applied');
        assert.equal(await session.echo('after the ca changed'), 'after the ca changed');
        assert.equal(api.manager.entry('live')?.state, 'running');
        const fresh = await EchoClient.connect(first);
        try {
          assert.equal(await fresh.echo('a new connection'), 'a new connection');
        } finally {
          fresh.close();
        }

        // Another port: the new one listens before the old one closes; the session goes on.
        await saveSettingsFile([entry({ ca: backend().pki.caBundle, listen: second })]);
        await waitFor(() => api.manager.tunnel('live')?.address()?.port === second, `the tunnel to listen on ${second}`);
        assert.equal(await session.echo('after listen changed'), 'after listen changed');
        const moved = await EchoClient.connect(second);
        try {
          assert.equal(await moved.echo('on the new port'), 'on the new port');
        } finally {
          moved.close();
        }
        assert.equal(await tryConnect(first), 'ECONNREFUSED', 'the old port is let go');
        assert.equal(await session.echo('still the same session'), 'still the same session');
      } finally {
        session.close();
      }
    });
  });
});
