/**
 * Several targets, through real tunnels and real mTLS servers: failover to the second when the
 * first is down, back to the first once its backoff window is over, round-robin spreading new
 * connections, one diagnosis naming every target's reason when none works, no failover once a
 * MySQL client has seen the first server's greeting. The order and the
 * backoff themselves (TargetSet) are plain rules, checked with a clock the test moves.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TargetEndpoint } from '../../src/core/config/model';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { TargetSet } from '../../src/core/tunnel/targets';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { MtlsServer, startMtlsServer } from '../support/mtlsServer';
import { unusedPort } from '../support/ports';
import { tunnelConfig } from '../support/tunnels';
import { closed, connectLocal, readBytes, recordingLogger, startTunnel, tunnelPort, until } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

/** A MySQL 8 greeting that offers CLIENT_SSL and CLIENT_PROTOCOL_41 (as tunnel-mysql-deadline.test.ts). */
function greeting(): Buffer {
  const p = Buffer.concat([Buffer.from([0x0a]), Buffer.from('8.0.0\0'), Buffer.alloc(4), Buffer.alloc(8, 1), Buffer.from([0]), Buffer.from([0x00, 0x0a]), Buffer.alloc(20)]);
  p.writeUInt16LE(0x0200 | 0x8000 | 0x0800, 6 + 4 + 8 + 1 + 1);
  const h = Buffer.alloc(4);
  h.writeUIntLE(p.length, 0, 3);
  return Buffer.concat([h, p]);
}

const endpoint = (port: number): TargetEndpoint => ({ host: '127.0.0.1', port, serverName: '127.0.0.1' });

/** One echo round trip through the tunnel; resolves with the target the connection used. */
async function roundTrip(t: Parameters<typeof connectLocal>[0], tunnel: Tunnel, text = 'ping'): Promise<string | undefined> {
  const client = await connectLocal(t, tunnelPort(tunnel));
  client.write(text);
  assert.equal((await readBytes(client, text.length, 5000)).toString(), text);
  const used = tunnel.snapshot().connections.find((c) => c.client === `${client.localAddress}:${client.localPort}`)?.target;
  client.destroy();
  return used;
}

describe('target order and backoff (TargetSet)', () => {
  test('failover: in order; a failed target goes last for 5 s doubling to 60 s; a success clears it', () => {
    let now = 1_000_000;
    const set = new TargetSet([endpoint(1), endpoint(2), endpoint(3)], 'failover', undefined, () => now);
    assert.deepEqual(set.order(), [0, 1, 2]);
    assert.equal(set.failed(0), 5000);
    assert.deepEqual(set.order(), [1, 2, 0], 'skipped, but still tried last');
    now += 5000;
    assert.deepEqual(set.order(), [0, 1, 2], 'the window is over');
    assert.deepEqual([set.failed(0), set.failed(0), set.failed(0), set.failed(0), set.failed(0)], [10_000, 20_000, 40_000, 60_000, 60_000]);
    set.succeeded(0);
    assert.deepEqual(set.order(), [0, 1, 2]);
    assert.equal(set.failed(0), 5000, 'a success starts the doubling over');
  });

  test('all in their window: all tried anyway, in order', () => {
    const now = 0;
    const set = new TargetSet([endpoint(1), endpoint(2)], 'failover', undefined, () => now);
    set.failed(1);
    set.failed(0);
    assert.deepEqual(set.order(), [0, 1]);
    assert.deepEqual(set.standings().map((s) => s.backoffUntil), [5000, 5000]);
  });

  test('a window that ended: one connection tries the target again, the others wait for its answer', () => {
    let now = 0;
    const set = new TargetSet([endpoint(1), endpoint(2)], 'failover', undefined, () => now);
    set.failed(0);
    now += 5000;
    assert.deepEqual(set.order(), [0, 1], 'the first connection after the window tries it');
    const finished = set.dialStarted(0);
    assert.deepEqual(set.order(), [1, 0], 'while that dial runs, the next connection goes to the other first');
    finished();
    finished();
    set.succeeded(0);
    assert.deepEqual(set.order(), [0, 1]);
    // A target that never failed is dialled by any number of connections at once.
    set.dialStarted(0);
    assert.deepEqual(set.order(), [0, 1]);
  });

  test('round-robin: each new connection starts one further along, skipping one in its window', () => {
    const now = 0;
    const set = new TargetSet([endpoint(1), endpoint(2), endpoint(3)], 'round-robin', undefined, () => now);
    assert.deepEqual([set.order(), set.order(), set.order(), set.order()], [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]);
    set.failed(1);
    assert.deepEqual(set.order(), [2, 0, 1], 'starts at 1, which waits: 2 first');
  });
});

describe('a tunnel with several targets', () => {
  const pki = withPki();
  const backoff = { firstMs: 300, maxMs: 600 };

  test('the first down: traffic reaches the second; the first back: new connections return to it after its window', { timeout: 30_000 }, async (t) => {
    const portA = await unusedPort();
    const b = await startMtlsServer(pki(), {}, t);
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), portA, { name: 'pair', target: [`127.0.0.1:${portA}`, `127.0.0.1:${b.port}`] }), { logger, targetBackoff: backoff });
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));

    assert.equal(await roundTrip(t, tunnel), `127.0.0.1:${b.port}`);
    assert.equal(b.clients.length, 1);
    assert.deepEqual(diagnoses, [], 'a target that failed over in time is no failure');
    assert.ok(logger.lines.some((l) => l.includes(`#1 target 127.0.0.1:${portA} failed (ECONNREFUSED): trying 127.0.0.1:${b.port}; 127.0.0.1:${portA} is skipped for 300 ms`)), logger.lines.join('\n'));
    assert.ok(logger.lines.some((l) => l.includes(`#1 using target 127.0.0.1:${b.port}`)));
    const standing = tunnel.counts().targets!;
    assert.equal(standing[0].failures, 1);

    const a = await startMtlsServer(pki(), { port: portA }, t);
    // Its window ends by the clock, which nothing announces: the tunnel's own standing says when.
    await until(() => tunnel.counts().targets![0].backoffUntil === undefined, 5000, 'the first target\'s backoff window to end');
    assert.equal(await roundTrip(t, tunnel), `127.0.0.1:${portA}`);
    assert.equal(a.clients.length, 1);
    assert.equal(tunnel.counts().targets![0].failures, 0, 'the success cleared its failures');
    assert.equal(await roundTrip(t, tunnel), `127.0.0.1:${portA}`, 'failover keeps to the first while it works');
    assert.equal(b.clients.length, 1);
  });

  test('round-robin alternates between two live targets', { timeout: 30_000 }, async (t) => {
    const a = await startMtlsServer(pki(), {}, t);
    const b = await startMtlsServer(pki(), {}, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), a.port, { name: 'spread', target: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], targetPolicy: 'round-robin' }), { targetBackoff: backoff });
    const used: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) used.push(await roundTrip(t, tunnel));
    const [A, B] = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
    assert.deepEqual(used, [A, B, A, B]);
    assert.deepEqual([a.clients.length, b.clients.length], [2, 2]);
  });

  test('every target down: one diagnosis that names each', { timeout: 30_000 }, async (t) => {
    const [p1, p2] = [await unusedPort(), await unusedPort()];
    const tunnel = await startTunnel(t, tunnelConfig(pki(), p1, { name: 'none', target: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`] }), { targetBackoff: backoff });
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    await closed(client, 10_000);
    assert.equal(diagnoses.length, 1);
    const d = diagnoses[0];
    assert.equal(d.code, 'CONNECTION_REFUSED', 'both failed alike: the shared code');
    assert.match(d.summary, new RegExp(`^Tunnel "none": no target could be used: 127\\.0\\.0\\.1:${p1}: nothing is listening at 127\\.0\\.0\\.1:${p1} \\(connection refused\\); 127\\.0\\.0\\.1:${p2}: nothing is listening at 127\\.0\\.0\\.1:${p2}`));
    assert.equal(tunnel.snapshot().handshakesFailed.CONNECTION_REFUSED, 1);
  });

  test('different reasons: ALL_TARGETS_FAILED with each target\'s sentence', { timeout: 30_000 }, async (t) => {
    const down = await unusedPort();
    const rogue: MtlsServer = await startMtlsServer(pki(), { identity: pki().rogueServer }, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), down, { name: 'mixed', target: [`127.0.0.1:${down}`, `localhost:${rogue.port}`] }), { targetBackoff: backoff });
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    await closed(client, 10_000);
    assert.equal(diagnoses.length, 1);
    const d = diagnoses[0];
    assert.equal(d.code, 'ALL_TARGETS_FAILED');
    assert.ok(d.summary.includes(`127.0.0.1:${down}: nothing is listening`), d.summary);
    assert.ok(d.summary.includes(`localhost:${rogue.port}: `) && /not trust|untrusted|issued by/i.test(d.summary), d.summary);
    assert.ok(d.fix.includes(`For 127.0.0.1:${down}: `) && d.fix.includes(`For localhost:${rogue.port}: `), d.fix);
  });

  test('mysql: once the first server\'s greeting reached the client, the second is not tried, and the diagnosis says so', { timeout: 30_000 }, async (t) => {
    const mysqlPreamble = async (raw: import('node:net').Socket) => {
      raw.write(greeting());
      raw.pause();
      await readBytes(raw, 36, 5000);
      return true;
    };
    // The first presents a certificate we must not trust: its TLS handshake fails after the greeting.
    const first = await startMtlsServer(pki(), { identity: pki().rogueServer, preamble: mysqlPreamble, handshakeTimeoutMs: 1000 }, t);
    const second = await startMtlsServer(pki(), { preamble: mysqlPreamble }, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), first.port, { name: 'my', protocol: 'mysql', target: [`127.0.0.1:${first.port}`, `127.0.0.1:${second.port}`] }), { targetBackoff: backoff });
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    await readBytes(client, 4, 5000); // the relayed greeting's header
    const response = Buffer.alloc(40);
    response.writeUInt32LE(0x0200 | 0x8000, 0);
    const header = Buffer.alloc(4);
    header.writeUIntLE(response.length, 0, 3);
    header[3] = 1;
    client.write(Buffer.concat([header, response]));
    await closed(client, 10_000);
    await until(() => diagnoses.length === 1, 5000, 'the diagnosis');
    assert.equal(diagnoses[0].code, 'SERVER_CERT_UNTRUSTED');
    assert.ok(diagnoses[0].summary.includes(`127.0.0.1:${second.port} not tried: the local client had already heard from 127.0.0.1:${first.port}`), diagnoses[0].summary);
    assert.equal(second.accepted, 0, 'a second server cannot take over a MySQL session the client has seen begin');
  });
});
