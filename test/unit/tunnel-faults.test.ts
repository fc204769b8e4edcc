/**
 * Faults stay with the connection they hit: a backend reset, a local client that vanishes, a
 * target that is down (and then comes up), a backend that never speaks TLS, an idle connection,
 * and more connections than `maxConnections`. Other connections and other tunnels keep working.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { MtlsConnection, startMtlsServer } from '../support/mtlsServer';
import { unusedPort } from '../support/ports';
import { startRawServer } from '../support/rawServers';
import { tunnelConfig } from '../support/tunnels';
import {
  MB, closed, connectLocal, echoOnce, readBytes, readToEnd, sha256, sleep,
  startTunnel, tunnelPort, until, within, writeAll,
} from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

describe('tunnel faults', () => {
  const pki = withPki();

  test('a backend reset mid-stream hits only that connection; others and another tunnel complete byte-exact', { timeout: 30_000 }, async (t) => {
    // The first line a client sends says what the backend does: "reset" streams and then resets
    // the TCP connection; anything else is echoed.
    let toReset: MtlsConnection | undefined;
    const backend = await startMtlsServer(pki(), {
      handler: (_s, c) => {
        c.tls.once('data', (first: Buffer) => {
          if (first.toString().startsWith('reset')) {
            toReset = c;
            c.tls.write(randomBytes(256 * 1024));
            return;
          }
          c.tls.write(first);
          c.tls.pipe(c.tls);
        });
      },
    }, t);
    const a = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'a' }));
    const b = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'b' }));
    const diagnoses: Diagnosis[] = [];
    a.on('diagnosis', (d) => diagnoses.push(d));
    b.on('diagnosis', (d) => diagnoses.push(d));

    // Two healthy connections (one per tunnel) start streaming before the reset and finish after it.
    const payload = randomBytes(8 * MB);
    const healthy = [a, b].map(async (tunnel) => {
      const c = await connectLocal(t, tunnelPort(tunnel));
      const echoed = readToEnd(c, 20_000, { keep: false });
      await writeAll(c, payload.subarray(0, 1 * MB), { end: false });
      return { c, echoed };
    });
    const victim = await connectLocal(t, tunnelPort(a));
    const victimClosed = closed(victim, 10_000);
    let victimBytes = 0;
    victim.on('data', (d: Buffer) => (victimBytes += d.length));
    victim.write('reset please');
    await until(() => toReset !== undefined && victimBytes > 0, 5000, 'the victim stream to flow');
    const streams = await Promise.all(healthy);
    toReset!.raw.resetAndDestroy();

    const { error } = await victimClosed;
    assert.ok(error, 'the local client sees an error, not a clean end');
    assert.equal(error.code, 'ECONNRESET');
    for (const { c } of streams) await writeAll(c, payload.subarray(1 * MB));
    for (const { echoed } of streams) {
      const got = await echoed;
      assert.equal(got.bytes, payload.length);
      assert.equal(got.sha256, sha256(payload));
    }
    await until(() => a.snapshot().openConnections === 0 && b.snapshot().openConnections === 0, 3000, 'connections to close');
    const reset = diagnoses.filter((d) => d.code === 'PEER_RESET');
    assert.equal(reset.length, 1, `one PEER_RESET diagnosis: ${JSON.stringify(diagnoses)}`);
    assert.match(reset[0].summary, /^Tunnel "a"/);
    assert.equal(a.snapshot().state, 'running');
    assert.equal(b.snapshot().state, 'running');
    assert.equal(b.snapshot().lastDiagnosis, undefined, 'tunnel b saw no fault');
    // Tunnel a still takes new connections.
    const again = await connectLocal(t, tunnelPort(a));
    assert.equal(await echoOnce(again, 'still here'), 'still here');
  });

  test('a local client that vanishes mid-transfer closes its upstream connection; the tunnel keeps working', { timeout: 20_000 }, async (t) => {
    const upstreamClosed: Promise<void>[] = [];
    const backend = await startMtlsServer(pki(), {
      handler: (_s, c) => {
        upstreamClosed.push(new Promise((resolve) => c.tls.once('close', () => resolve())));
        c.tls.once('data', (first: Buffer) => {
          if (first.toString() !== 'stream') {
            c.tls.write(first);
            c.tls.pipe(c.tls);
            return;
          }
          // Stream until the connection goes away.
          const block = randomBytes(64 * 1024);
          const pump = () => {
            while (!c.tls.destroyed && c.tls.write(block));
            if (!c.tls.destroyed) c.tls.once('drain', pump);
          };
          pump();
        });
      },
    }, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'vanish' }));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write('stream');
    await readBytes(client, 512 * 1024, 5000);
    client.destroy();
    await within(upstreamClosed[0], 5000, 'the backend to see its connection close');
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the tunnel to forget the connection');
    assert.equal(tunnel.state, 'running');
    const next = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(next, 'next one'), 'next one');
    assert.deepEqual(backend.clients, ['alice', 'alice']);
  });

  test('target down: the local connection closes with CONNECTION_REFUSED; once a server listens, a new connection works', { timeout: 20_000 }, async (t) => {
    const port = await unusedPort();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), port, { name: 'later' }));
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));

    const refused = await connectLocal(t, tunnelPort(tunnel));
    refused.write('hello?');
    let received = 0;
    refused.on('data', (d: Buffer) => (received += d.length));
    await closed(refused, 5000);
    assert.equal(received, 0);
    const s = tunnel.snapshot();
    assert.equal(s.handshakesFailed.CONNECTION_REFUSED, 1);
    assert.equal(s.handshakesOk, 0);
    assert.equal(diagnoses.length, 1);
    assert.equal(diagnoses[0].code, 'CONNECTION_REFUSED');
    assert.match(diagnoses[0].summary, /^Tunnel "later": /);
    assert.ok(diagnoses[0].summary.includes(`127.0.0.1:${port}`), diagnoses[0].summary);
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the failed connection to be forgotten');

    await startMtlsServer(pki(), { port }, t);
    const works = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(works, 'now it listens'), 'now it listens');
    assert.equal(tunnel.snapshot().handshakesOk, 1);
    assert.equal(tunnel.snapshot().handshakesFailed.CONNECTION_REFUSED, 1);
  });

  test('a backend that accepts TCP but never speaks TLS is given up after connectTimeoutMs (CONNECT_TIMEOUT)', { timeout: 20_000 }, async (t) => {
    let accepted = 0;
    let upstreamClosed = 0;
    const server = await startRawServer((s) => {
      accepted++;
      s.on('close', () => upstreamClosed++);
      s.resume(); // reads the ClientHello, never answers
    });
    t.after(() => server.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'mute', connectTimeoutMs: 400 }));
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    const started = Date.now();
    await closed(client, 5000);
    const took = Date.now() - started;
    assert.ok(took >= 350, `closed after ${took} ms, before the 400 ms timeout`);
    assert.equal(accepted, 1, 'the backend accepted the TCP connection');
    assert.equal(tunnel.snapshot().handshakesFailed.CONNECT_TIMEOUT, 1);
    assert.equal(diagnoses[0]?.code, 'CONNECT_TIMEOUT');
    assert.match(diagnoses[0].summary, /^Tunnel "mute": .*400 ms/);
    await until(() => upstreamClosed === 1, 3000, 'the upstream socket to be closed');
  });

  test('idleTimeoutMs closes an idle connection, not a busy one', { timeout: 20_000 }, async (t) => {
    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'idle', idleTimeoutMs: 400 }));
    const idle = await connectLocal(t, tunnelPort(tunnel));
    const busy = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(idle, 'once'), 'once');
    const lastActivity = Date.now();
    const idleClosed = closed(idle, 5000);
    // The busy one talks every 100 ms for well over the idle timeout.
    for (let i = 0; i < 10; i++) {
      assert.equal(await echoOnce(busy, `ping ${i}`), `ping ${i}`);
      await sleep(100);
    }
    await idleClosed;
    const closedAfter = Date.now() - lastActivity;
    assert.ok(closedAfter >= 350, `idle connection closed after ${closedAfter} ms, expected no earlier than 400`);
    assert.ok(!busy.destroyed, 'the busy connection is still open');
    assert.equal(await echoOnce(busy, 'still busy'), 'still busy');
    assert.equal(tunnel.snapshot().openConnections, 1);
  });

  test('maxConnections refuses the extra connection while the others keep working', { timeout: 20_000 }, async (t) => {
    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'limited', maxConnections: 2 }));
    const port = tunnelPort(tunnel);
    const one = await connectLocal(t, port);
    const two = await connectLocal(t, port);
    assert.equal(await echoOnce(one, 'one'), 'one');
    assert.equal(await echoOnce(two, 'two'), 'two');

    const three = await connectLocal(t, port);
    let threeGot = 0;
    three.on('data', (d: Buffer) => (threeGot += d.length));
    three.write('three');
    await closed(three, 3000);
    assert.equal(threeGot, 0);
    assert.equal(echo.clients.length, 2, 'the refused connection never reached the backend');
    assert.equal(await echoOnce(one, 'one again'), 'one again');
    assert.equal(await echoOnce(two, 'two again'), 'two again');
    assert.equal(tunnel.snapshot().openConnections, 2);
    assert.equal(tunnel.snapshot().totalConnections, 2);

    // A slot frees up when one of them leaves.
    one.end();
    await closed(one, 3000);
    await until(() => tunnel.snapshot().openConnections === 1, 3000, 'the slot to free');
    const four = await connectLocal(t, port);
    assert.equal(await echoOnce(four, 'four'), 'four');
  });
});
