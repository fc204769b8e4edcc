/**
 * maxConnectionLifetimeMs: a connection is closed, both ends, once it has been open that long,
 * even while it is busy; without the setting a connection lives as long as its peers want.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import { closed, connectLocal, echoOnce, recordingLogger, startTunnel, tunnelPort, until } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

describe('tunnel connection lifetime', () => {
  const pki = withPki();

  test('a connection still in use is closed at maxConnectionLifetimeMs, both ends, and the close is logged', { timeout: 20_000 }, async (t) => {
    const serverSockets: net.Socket[] = [];
    // Echo server (the default handler); remember its sockets to see them close.
    const server = await startMtlsServer(pki(), { handler: (s) => { serverSockets.push(s); s.pipe(s); } });
    t.after(() => server.close());
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'short-lived', maxConnectionLifetimeMs: 500 }), { logger });
    const client = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(client, 'ping'), 'ping', 'the connection works until then');
    // Keep the connection busy: it is its age that ends it, not idleness.
    const busy = setInterval(() => client.writable && client.write('.'), 20);
    t.after(() => clearInterval(busy));
    await closed(client, 10_000);
    clearInterval(busy);
    await until(() => serverSockets[0]?.closed === true, 5000, 'the server side to be closed');
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to be gone');
    assert.match(logger.lines.find((l) => l.includes('maxConnectionLifetimeMs')) ?? '', /^info .*#1 open for 500 ms \(maxConnectionLifetimeMs\): closing/);
    // The tunnel itself goes on: a new connection works.
    const again = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(again, 'pong'), 'pong');
  });
});
