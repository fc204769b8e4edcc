/**
 * Every byte arrives, unchanged, in both directions: tens of megabytes hashed on both ends, with
 * an EC PKI, an RSA one and an Ed25519 client identity; and 200 concurrent connections with
 * their own random data, after which the tunnel's counters add up.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { before, describe, test, TestContext } from 'node:test';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import {
  MB, connectLocal, readToEnd, sha256, sinkHandler, sourceHandler, startTunnel, tunnelPort, until, writeAll,
} from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

const SIZE = 32 * MB;

describe('tunnel transfers', () => {
  const pki = withPki();
  let payload: Buffer;
  let payloadSha: string;

  before(async () => {
    payload = randomBytes(SIZE);
    payloadSha = sha256(payload);
  });

  /** Uploads the payload to a hashing sink and checks the digest the server computed. */
  async function upload(t: TestContext, tunnel: Tunnel): Promise<void> {
    const client = await connectLocal(t, tunnelPort(tunnel));
    const reply = readToEnd(client, 30_000);
    await writeAll(client, payload);
    const [bytes, digest] = (await reply).data!.toString().trim().split(' ');
    assert.equal(Number(bytes), SIZE);
    assert.equal(digest, payloadSha);
  }

  /** Downloads the payload from a source server and checks the digest here. */
  async function download(t: TestContext, tunnel: Tunnel): Promise<void> {
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.end();
    const got = await readToEnd(client, 30_000, { keep: false });
    assert.equal(got.bytes, SIZE);
    assert.equal(got.sha256, payloadSha);
  }

  async function bothWays(t: TestContext, server: { identity?: ThrowawayPki['server']; clientCa?: string }, overrides: Record<string, unknown>) {
    const sink = await startMtlsServer(pki(), { ...server, handler: sinkHandler });
    t.after(() => sink.close());
    const source = await startMtlsServer(pki(), { ...server, handler: sourceHandler(payload) });
    t.after(() => source.close());
    const up = await startTunnel(t, tunnelConfig(pki(), sink.port, { name: 'up', ...overrides }));
    const down = await startTunnel(t, tunnelConfig(pki(), source.port, { name: 'down', ...overrides }));
    await upload(t, up);
    await download(t, down);
    await until(() => up.snapshot().openConnections === 0 && down.snapshot().openConnections === 0, 3000, 'connections to close');
    const u = up.snapshot();
    const d = down.snapshot();
    assert.equal(u.bytesUp, SIZE);
    assert.equal(u.bytesDown, Buffer.byteLength(`${SIZE} ${payloadSha}\n`));
    assert.equal(d.bytesDown, SIZE);
    assert.equal(d.bytesUp, 0);
    assert.equal(u.handshakesOk, 1);
    assert.equal(d.handshakesOk, 1);
    return { sink, source };
  }

  test('32 MB up and 32 MB down, byte-exact, EC PKI', { timeout: 60_000 }, async (t) => {
    const { sink } = await bothWays(t, {}, {});
    assert.deepEqual(sink.clients, ['alice']);
  });

  test('32 MB up and 32 MB down, byte-exact, RSA server and client', { timeout: 60_000 }, async (t) => {
    const { sink, source } = await bothWays(t, { identity: pki().rsaServer, clientCa: pki().rsaCa }, {
      cert: pki().rsaClient.cert, key: pki().rsaClient.key, ca: pki().rsaCa,
    });
    assert.deepEqual(sink.clients, ['alice']);
    assert.deepEqual(source.clients, ['alice']);
  });

  test('32 MB up and 32 MB down, byte-exact, Ed25519 client', { timeout: 60_000 }, async (t) => {
    const { sink } = await bothWays(t, {}, { cert: pki().ed25519Client.cert, key: pki().ed25519Client.key });
    assert.deepEqual(sink.clients, ['alice']);
  });

  test('200 concurrent connections with random data: no mismatch, counters add up', { timeout: 60_000 }, async (t) => {
    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'many' }));
    const port = tunnelPort(tunnel);
    const N = 200;
    const sizes = Array.from({ length: N }, () => randomInt(1, 64 * 1024));
    const results = await Promise.all(sizes.map(async (size) => {
      const data = randomBytes(size);
      const client = await connectLocal(t, port);
      const reply = readToEnd(client, 30_000, { keep: false });
      await writeAll(client, data, { chunk: 16 * 1024 });
      const got = await reply;
      return got.bytes === size && got.sha256 === sha256(data);
    }));
    assert.equal(results.filter((ok) => !ok).length, 0, 'connections whose echo differs');
    await until(() => tunnel.snapshot().openConnections === 0, 5000, 'all connections to close');
    const total = sizes.reduce((a, b) => a + b, 0);
    const s = tunnel.snapshot();
    assert.equal(s.openConnections, 0);
    assert.equal(s.connections.length, 0);
    assert.equal(s.totalConnections, N);
    assert.equal(s.handshakesOk, N);
    assert.deepEqual(s.handshakesFailed, {});
    assert.equal(s.bytesUp, total);
    assert.equal(s.bytesDown, total);
    assert.equal(echo.clients.length, N);
  });
});
