/**
 * Warm upstream connections (`warmConnections`), against a real mTLS server: a client is served
 * by a connection the server saw handshake before the client came; one the server ended or reset
 * while it waited is never handed out (the client dials, nothing is lost); after a credential
 * reload only connections with the new certificate serve, and after a change of target only
 * the new target; an old one is not handed out
 * (`warmMaxAgeMs`, checked on take with a moved clock, and retired by its timer); stop closes them
 * all; a server's unasked greeting waits for the client; PostgreSQL's SSLRequest preamble too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, TestContext } from 'node:test';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { loadCredentials } from '../../src/core/tls/credentials';
import { protocolHandler } from '../../src/core/protocols';
import { ConnectionSnapshot } from '../../src/core/tunnel/connection';
import { TargetSet } from '../../src/core/tunnel/targets';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { WarmPool } from '../../src/core/tunnel/warmPool';
import { SSL_REQUEST } from '../support/fakePostgres';
import { MtlsServerOptions, startMtlsServer } from '../support/mtlsServer';
import { liveCredentials, withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';
import {
  connectLocal, echoOnce, readBytes, readToEnd, recordingLogger, sha256, startTunnel, tunnelPort, until, within, writeAll,
} from '../support/tunnelKit';

/** An echo server that numbers its TLS sessions and says which carried client bytes, and who presented what. */
async function countingServer(t: TestContext, pki: Parameters<typeof startMtlsServer>[0], options: MtlsServerOptions = {}) {
  const sessions: { n: number; cn: string; tls: tls.TLSSocket; raw: net.Socket; resumed: boolean; gotData: boolean; endedByClient: boolean; closed: boolean }[] = [];
  const server = await startMtlsServer(pki, {
    ...options,
    handler: (s, c) => {
      const session = { n: sessions.length + 1, cn: c.client, tls: s, raw: c.raw, resumed: s.isSessionReused(), gotData: false, endedByClient: false, closed: false };
      sessions.push(session);
      s.once('data', () => (session.gotData = true));
      s.once('end', () => (session.endedByClient = true));
      c.raw.once('close', () => (session.closed = true));
      options.handler?.(s, c);
      s.pipe(s);
    },
  }, t);
  return Object.assign(server, { sessions, used: () => sessions.filter((s) => s.gotData) });
}

function opened(tunnel: Tunnel): Promise<ConnectionSnapshot> {
  return within(new Promise((resolve) => tunnel.once('connectionOpened', resolve)), 5000, 'a connection to open');
}

const warmCounts = (tunnel: Tunnel) => tunnel.counts().warm!;

describe('warm upstream connections', () => {
  const pki = withPki();

  test('a client is served by a connection the server saw handshake before the client came; the pool refills', async (t) => {
    const server = await countingServer(t, pki());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { warmConnections: 2 }));
    await until(() => server.sessions.length === 2 && warmCounts(tunnel).ready === 2, 5000, 'two warm connections');
    const before = server.sessions.length;

    const open = opened(tunnel);
    const client = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(client, 'hello'), 'hello');
    assert.equal((await open).handshake?.warm, true, 'the snapshot says the upstream was warm');
    const [used] = server.used();
    assert.ok(used.n <= before, `the session that carried the bytes (#${used.n}) was made before the client connected (${before} then)`);

    await until(() => warmCounts(tunnel).ready === 2 && server.sessions.length === 3, 5000, 'the pool to refill');
    assert.equal(warmCounts(tunnel).taken, 1);
    const second = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(second, 'again'), 'again');
    await until(() => warmCounts(tunnel).ready === 2 && server.sessions.length === 4, 5000, 'the pool to refill again');
    // Warm dials keep the server's tickets like any dial, so the refills resumed sessions.
    assert.ok(server.sessions.slice(2).some((s) => s.resumed), 'a refill resumed a session');
    assert.equal(warmCounts(tunnel).lost, 0);
  });

  test('many clients in a row each take a warm connection, and no dial leaves a listener behind', async (t) => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    const server = await countingServer(t, pki());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { warmConnections: 1 }));
    for (let i = 0; i < 15; i++) {
      await until(() => warmCounts(tunnel).ready === 1, 5000, 'a warm connection');
      const client = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(client, `n${i}`), `n${i}`);
      client.destroy();
    }
    assert.equal(warmCounts(tunnel).taken, 15);
    // One abort signal shared by every warm dial once collected a listener (and its sockets) per dial.
    assert.deepEqual(warnings.filter((w) => w.includes('MaxListeners')), []);
  });

  test('the replacement is dialled after the taken connection has its first answer, not alongside its first exchange', async (t) => {
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    let heard!: () => void;
    const clientHeard = new Promise<void>((resolve) => (heard = resolve));
    const server = await startMtlsServer(pki(), {
      handler: (s) => s.once('data', (d: Buffer) => {
        heard();
        void answered.then(() => s.end(d));
      }),
    }, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { warmConnections: 1 }), { warmPool: { refillWaitMs: 60_000 } });
    await until(() => warmCounts(tunnel).ready === 1, 5000, 'a warm connection');
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write('first');
    await within(clientHeard, 5000, 'the server to hear the client');
    assert.equal(server.accepted, 1, 'no replacement while the taken connection waits for its answer');
    answer();
    assert.equal((await readToEnd(client, 5000)).data?.toString(), 'first');
    await until(() => warmCounts(tunnel).ready === 1 && server.accepted === 2, 5000, 'the replacement, after the answer');
  });

  for (const how of ['ends', 'resets'] as const) {
    test(`the server ${how} a waiting warm connection: it is never handed out, the client dials and every byte arrives`, async (t) => {
      const server = await countingServer(t, pki());
      const logger = recordingLogger();
      // A long backoff: after the loss no warm connection comes back during the test, so the client must dial.
      const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { warmConnections: 1 }), { logger, warmPool: { backoff: { firstMs: 60_000, maxMs: 60_000 } } });
      // The client is done a flight before the server (TLS 1.3): wait for the server's side too.
      await until(() => warmCounts(tunnel).ready === 1 && server.sessions.length === 1, 5000, 'a warm connection');
      const [warm] = server.sessions;
      if (how === 'ends') warm.tls.end();
      else warm.raw.resetAndDestroy();
      await until(() => warmCounts(tunnel).lost === 1 && warmCounts(tunnel).ready === 0, 5000, 'the pool to see it gone');

      const open = opened(tunnel);
      const client = await connectLocal(t, tunnelPort(tunnel));
      const payload = randomBytes(256 * 1024);
      const reply = readToEnd(client, 10_000);
      await writeAll(client, payload);
      assert.equal((await reply).sha256, sha256(payload), 'every byte came back');
      assert.notEqual((await open).handshake?.warm, true, 'a fresh dial, not the lost warm connection');
      assert.equal(server.used().length, 1);
      assert.notEqual(server.used()[0], warm);
      assert.equal(logger.lines.filter((l) => /a warm connection was .* while it waited/.test(l)).length, 1, 'said once');
    });
  }

  test('after a credential reload only connections with the new certificate serve: the old warm ones are closed', async (t) => {
    const live = await liveCredentials(pki(), pki().client);
    const bob = await pki().intermediate.issue({ commonName: 'bob', usage: 'client' });
    const server = await countingServer(t, pki());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { warmConnections: 2, cert: live.cert, key: live.key }));
    await until(() => warmCounts(tunnel).ready === 2, 5000, 'two warm connections as alice');
    // In TLS 1.3 the client is done a flight before the server: wait for the server's side too.
    await until(() => server.sessions.length === 2, 5000, 'the server to see both handshakes');
    assert.deepEqual(server.sessions.map((s) => s.cn), ['alice', 'alice']);

    await live.renameOver(bob.chainPem, bob.keyPem);
    assert.equal(await tunnel.reloadCredentials(), true);
    const client = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(client, 'who'), 'who');
    assert.deepEqual(server.used().map((s) => s.cn), ['bob'], 'the server saw the new certificate');
    await until(() => server.sessions.filter((s) => s.cn === 'alice').every((s) => s.closed), 5000, "alice's warm connections to close");
  });

  test('a settings change that leaves the dial alone keeps the warm connections; a new target closes them', async (t) => {
    const first = await countingServer(t, pki());
    const second = await countingServer(t, pki());
    const config = tunnelConfig(pki(), first.port, { warmConnections: 1 });
    const tunnel = await startTunnel(t, config);
    await until(() => warmCounts(tunnel).ready === 1, 5000, 'a warm connection');
    assert.equal(await tunnel.reconfigure({ ...config, idleTimeoutMs: 60_000 }), true);
    const kept = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(kept, 'same dial'), 'same dial');
    assert.equal(first.used()[0]?.n, 1, 'the connection made before the change served');

    await until(() => warmCounts(tunnel).ready === 1, 5000, 'the refill');
    assert.equal(await tunnel.reconfigure(tunnelConfig(pki(), second.port, { warmConnections: 1 })), true);
    await until(() => first.sessions.filter((s) => !s.gotData).every((s) => s.closed), 5000, 'the warm one to the old target to close');
    const moved = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(moved, 'new target'), 'new target');
    assert.equal(first.used().length, 1, 'nothing more reached the old target');
    assert.equal(second.used().length, 1);
  });

  test('warmMaxAgeMs: a connection past its age is not handed out (moved clock), and the timer retires and replaces them', async (t) => {
    const server = await countingServer(t, pki());
    const config = tunnelConfig(pki(), server.port, { warmConnections: 1, warmMaxAgeMs: 60_000 });
    const live = { config, credentials: await loadCredentials(config), protocol: protocolHandler(config.protocol), targets: new TargetSet(config.targets, config.targetPolicy) };
    let now = 0;
    const pool = new WarmPool(live, { logger: recordingLogger(), takeSession: () => undefined, keepSession: () => undefined }, { clock: () => now });
    t.after(() => pool.close());
    await until(() => pool.counts().ready === 1, 5000, 'a warm connection');
    now += 60_000;
    assert.equal(pool.take(), undefined, 'as old as warmMaxAgeMs: not handed out');
    assert.equal(pool.counts().retired, 1);
    await until(() => server.sessions[0]?.closed === true, 5000, 'the old one to close at the server');
    await until(() => pool.counts().ready === 1, 5000, 'its replacement');
    const fresh = pool.take();
    assert.ok(fresh, 'a young one is');
    fresh.upstream.socket.destroy();

    // The timer itself, at the smallest age a tunnel allows.
    const server2 = await countingServer(t, pki());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server2.port, { warmConnections: 1, warmMaxAgeMs: 1000 }));
    await until(() => server2.sessions.filter((s) => s.closed).length >= 2, 10_000, 'two warm connections retired');
    const retired = server2.sessions.filter((s) => s.closed);
    assert.ok(retired.every((s) => s.endedByClient && !s.gotData), 'closed politely by the tunnel, unused');
    assert.ok(warmCounts(tunnel).retired >= 2);
    assert.equal(warmCounts(tunnel).lost, 0);
  });

  test('stop closes every warm connection (the server sees them end)', async (t) => {
    const server = await countingServer(t, pki());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { warmConnections: 3 }));
    await until(() => warmCounts(tunnel).ready === 3 && server.open() === 3, 5000, 'three warm connections');
    await tunnel.stop();
    await until(() => server.open() === 0, 5000, 'the server to hold none');
    assert.ok(server.sessions.every((s) => s.endedByClient), 'each ended with close_notify, not cut');
    assert.equal(tunnel.counts().warm, undefined);
  });

  test("a server that speaks first: its greeting waits in the warm connection and reaches the client first", async (t) => {
    const server = await countingServer(t, pki(), { handler: (s) => s.write('220 ready\r\n') });
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { warmConnections: 1 }));
    await until(() => warmCounts(tunnel).ready === 1, 5000, 'a warm connection');
    const client = await connectLocal(t, tunnelPort(tunnel));
    assert.equal((await readBytes(client, 11, 3000)).toString(), '220 ready\r\n');
    assert.equal(await echoOnce(client, 'EHLO me'), 'EHLO me');
    assert.equal(server.used()[0].n, 1, 'the warm one');
  });

  test('postgres: the SSLRequest and the handshake happen before the client; psql-style SSLRequest still answered N locally', async (t) => {
    const preambles: Buffer[] = [];
    const server = await countingServer(t, pki(), {
      preamble: async (raw) => {
        raw.pause();
        preambles.push(await readBytes(raw, 8, 5000));
        raw.write('S');
        return true;
      },
    });
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { protocol: 'postgres', warmConnections: 1 }));
    await until(() => warmCounts(tunnel).ready === 1, 5000, 'a warm connection');
    assert.deepEqual(preambles, [SSL_REQUEST]);
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write(SSL_REQUEST);
    assert.equal((await readBytes(client, 1, 3000)).toString(), 'N');
    const startup = Buffer.concat([Buffer.from([0, 0, 0, 12, 0, 3, 0, 0]), Buffer.from('x\0\0\0')]);
    client.write(startup);
    assert.deepEqual(await readBytes(client, startup.length, 3000), startup);
    assert.equal(server.used()[0].n, 1, 'the warm one carried the StartupMessage');
  });
});
