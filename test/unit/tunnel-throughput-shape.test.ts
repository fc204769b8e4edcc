/**
 * What the engine does for speed must not change what arrives: chunks exactly one TLS record or
 * one socket read long (the sizes that cork the writer) are delivered without more traffic
 * behind them; the session pool grows when parallel dials run it dry; bursts of parallel
 * connections resume and still report their handshakes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { SessionPool } from '../../src/core/tunnel/sessionPool';
import { startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import { connectLocal, readBytes, startTunnel, tunnelPort, until } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

describe('session pool', () => {
  test('newest first; grows only when it runs dry after the server issued sessions; clear() starts over', () => {
    const pool = new SessionPool();
    assert.equal(pool.take(), undefined, 'empty at first');
    for (let i = 0; i < 20; i++) pool.keep(Buffer.from([i]));
    assert.equal(pool.size, 16, 'starts with room for 16');
    assert.deepEqual(pool.take(), Buffer.from([19]), 'the newest first');
    while (pool.take()) { /* drain */ }
    // Ran dry after sessions arrived: room doubles with each miss.
    pool.take();
    for (let i = 0; i < 100; i++) pool.keep(Buffer.from([i]));
    assert.equal(pool.size, 64);
    pool.clear();
    assert.equal(pool.size, 0);
    assert.equal(pool.take(), undefined);

    const fresh = new SessionPool();
    for (let i = 0; i < 5; i++) assert.equal(fresh.take(), undefined);
    for (let i = 0; i < 100; i++) fresh.keep(Buffer.from([i]));
    assert.equal(fresh.size, 16, 'misses before any session arrived do not grow it');
  });
});

describe('tunnel throughput shape', () => {
  const pki = withPki();

  for (const size of [16 * 1024, 32 * 1024, 64 * 1024, 64 * 1024 + 1, 3 * 64 * 1024]) {
    test(`a ${size}-byte message comes back whole with nothing sent after it`, { timeout: 10_000 }, async (t) => {
      const server = await startMtlsServer(pki());
      t.after(() => server.close());
      const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'shape' }));
      const client = await connectLocal(t, tunnelPort(tunnel));
      for (let round = 0; round < 3; round++) {
        const message = randomBytes(size);
        client.write(message);
        const echoed = await readBytes(client, size, 2000);
        assert.ok(echoed.equals(message), `round ${round}: byte-exact`);
      }
    });
  }

  test('bursts of 40 parallel connections resume up to the ceiling the server allows, and report their handshakes', { timeout: 30_000 }, async (t) => {
    const server = await startMtlsServer(pki(), { minVersion: 'TLSv1.3' });
    t.after(() => server.close());
    // Without the same-user check, which on Linux bridges the connections accepted in one turn
    // together (after one read of the socket table): then a burst's first dials all start before
    // any ticket of that burst has arrived, and fewer resume. This pins the pool's own ceiling.
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'burst', allowOtherUsers: true }));
    const resumed: boolean[] = [];
    tunnel.on('connectionOpened', (c) => resumed.push(c.handshake?.resumed === true));
    const burst = async () => {
      const before = resumed.length;
      await Promise.all(Array.from({ length: 40 }, async () => {
        const s = await connectLocal(undefined, tunnelPort(tunnel));
        s.write('hi');
        // The server sends its session tickets right after its handshake, ahead of the echo in the
        // same stream: once the echo is back, the tunnel has read them.
        await readBytes(s, 2, 5000);
        s.destroy();
      }));
      await until(() => tunnel.snapshot().openConnections === 0, 5000, 'the burst to close');
      return resumed.slice(before).filter(Boolean).length;
    };
    const first = await burst();
    const second = await burst();
    const third = await burst();
    t.diagnostic(`resumed per burst of 40: ${first}, ${second}, ${third}`);
    // The ceiling is about 2/3: this server (OpenSSL) issues two tickets after a full handshake and
    // none after a resumed one.
    assert.ok(third >= 24, `third burst resumed ${third}`);
    const snap = tunnel.snapshot();
    assert.equal(snap.handshakesOk, 120);
    assert.equal(snap.lastHandshake?.version, 'TLSv1.3');
  });

  test('a local client that writes and ends at once still gets the whole reply (forward ends after the data)', { timeout: 10_000 }, async (t) => {
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'end' }));
    const message = randomBytes(200 * 1024);
    const client = net.connect({ host: '127.0.0.1', port: tunnelPort(tunnel), allowHalfOpen: true });
    t.after(() => client.destroy());
    client.on('error', () => undefined);
    client.end(message);
    const got = await readBytes(client, message.length, 5000);
    assert.ok(got.equals(message));
  });
});
