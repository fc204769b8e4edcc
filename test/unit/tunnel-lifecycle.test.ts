/**
 * A tunnel's life: start once, stop once (every caller gets the same promise), the listener
 * closes at once on stop, in-flight exchanges get `drainTimeoutMs` to finish and are cut after
 * it; a port already in use fails the start with a diagnosis naming the tunnel and `listen`.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { Tunnel, TunnelStartError, TunnelState } from '../../src/core/tunnel/tunnel';
import { startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import {
  closed, connectError, connectLocal, echoOnce, readToEnd, sleep, startTunnel, tunnelPort, until, within,
} from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';
import { listenLocal } from '../support/ports';


describe('tunnel lifecycle', () => {
  const pki = withPki();

  test('state moves stopped → starting → running → stopping → stopped; stop() is idempotent', { timeout: 10_000 }, async (t) => {
    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());
    const tunnel = new Tunnel(tunnelConfig(pki(), echo.port, { name: 'states' }), { watchCredentials: false });
    t.after(() => tunnel.stop());
    const states: TunnelState[] = [];
    tunnel.on('state', (s) => states.push(s));
    assert.equal(tunnel.state, 'stopped');
    await tunnel.start();
    assert.equal(tunnel.state, 'running');
    assert.equal(tunnel.snapshot().listening?.host, '127.0.0.1');
    assert.ok((tunnel.snapshot().listening?.port ?? 0) > 0, 'listen port 0 becomes a real port');
    const first = tunnel.stop();
    const second = tunnel.stop();
    assert.equal(first, second, 'every caller gets the same promise');
    await within(first, 3000, 'stop');
    assert.equal(tunnel.stop(), first);
    assert.equal(tunnel.state, 'stopped');
    assert.deepEqual(states, ['starting', 'running', 'stopping', 'stopped']);
    assert.equal(tunnel.address(), undefined);
  });

  test('start() twice throws, and so does start() after stop()', { timeout: 10_000 }, async (t) => {
    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'once' }));
    await assert.rejects(tunnel.start(), /already started/);
    assert.equal(tunnel.state, 'running', 'the failed second start leaves the tunnel running');
    const c = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(c, 'still up'), 'still up');
    c.end();
    await closed(c, 3000);
    await tunnel.stop();
    await assert.rejects(tunnel.start(), /already started/);
    assert.equal(tunnel.state, 'stopped');
  });

  test('stop() during start() leaves nothing listening; stop() before start() refuses a later start', { timeout: 10_000 }, async (t) => {
    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());
    const tunnel = new Tunnel(tunnelConfig(pki(), echo.port, { name: 'quick' }), { watchCredentials: false });
    t.after(() => tunnel.stop());
    const states: TunnelState[] = [];
    tunnel.on('state', (s) => states.push(s));
    const starting = tunnel.start();
    const stopping = tunnel.stop();
    await within(stopping, 3000, 'stop');
    await within(starting.catch(() => undefined), 3000, 'start to settle');
    assert.equal(tunnel.state, 'stopped');
    assert.equal(tunnel.address(), undefined, 'the listener opened by start() was closed');
    assert.equal(states[states.length - 1], 'stopped');
    // Proving that nothing happens: a moment for a stray callback to move the state back.
    await sleep(50);
    assert.equal(tunnel.state, 'stopped', 'nothing moves the state back');

    const never = new Tunnel(tunnelConfig(pki(), echo.port, { name: 'never' }), { watchCredentials: false });
    const stopped = never.stop();
    await assert.rejects(never.start(), /already started/);
    await stopped;
    assert.equal(never.state, 'stopped');
    assert.equal(never.address(), undefined);
  });

  test('stop() closes the listener at once and lets an in-flight exchange finish', { timeout: 15_000 }, async (t) => {
    // The backend answers the request only once the test says so (after stop() began), then ends.
    let answer: (() => void) | undefined;
    const slow = await startMtlsServer(pki(), {
      handler: (s) => s.once('data', (d: Buffer) => (answer = () => s.end(`answer to ${d.toString()}`))),
    });
    t.after(() => slow.close());
    // A drain timeout far beyond the test's deadline: stop() can only finish in time by seeing the
    // exchange end, not by the timeout cutting it.
    const tunnel = await startTunnel(t, tunnelConfig(pki(), slow.port, { name: 'draining' }), { drainTimeoutMs: 60_000 });
    const port = tunnelPort(tunnel);
    const client = await connectLocal(t, port);
    const reply = readToEnd(client, 5000);
    client.write('question');
    await until(() => tunnel.snapshot().handshakesOk === 1, 3000, 'the connection to be established');

    const stopping = tunnel.stop();
    assert.equal(tunnel.state, 'stopping');
    const refused = await connectError(port);
    assert.equal(refused?.code, 'ECONNREFUSED', 'new connections are refused as soon as stop() is called');
    await until(() => answer !== undefined, 3000, 'the request to reach the backend');
    assert.equal(tunnel.state, 'stopping', 'stop() waits for the exchange in flight');
    answer!();

    assert.equal((await reply).data!.toString(), 'answer to question');
    client.end();
    await within(stopping, 5000, 'stop to finish once the exchange ended');
    assert.equal(tunnel.state, 'stopped');
    assert.equal(tunnel.snapshot().openConnections, 0);
    assert.equal(tunnel.snapshot().bytesDown, 'answer to question'.length);
  });

  test('stop() cuts connections that outlive drainTimeoutMs', { timeout: 15_000 }, async (t) => {
    let serverClosed = 0;
    const echo = await startMtlsServer(pki(), {
      handler: (s) => {
        s.on('close', () => serverClosed++);
        s.pipe(s);
      },
    });
    t.after(() => echo.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'cut' }), { drainTimeoutMs: 400 });
    const lingering = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(lingering, 'hello'), 'hello');
    const lingeringClosed = closed(lingering, 5000);

    const began = Date.now();
    await within(tunnel.stop(), 5000, 'stop');
    const took = Date.now() - began;
    assert.ok(took >= 350, `stop cut the connection after ${took} ms, before the 400 ms drain timeout`);
    await lingeringClosed;
    await until(() => serverClosed === 1, 3000, 'the backend to see its connection close');
    assert.equal(tunnel.state, 'stopped');
    assert.equal(tunnel.snapshot().openConnections, 0);
  });

  test('a port in use fails start with PORT_IN_USE on "listen", naming the tunnel', { timeout: 10_000 }, async (t) => {
    const squatter = net.createServer();
    await listenLocal(squatter);
    t.after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const port = (squatter.address() as net.AddressInfo).port;
    const tunnel = new Tunnel(tunnelConfig(pki(), 1, { name: 'squatted', listen: `127.0.0.1:${port}` }), { watchCredentials: false });
    t.after(() => tunnel.stop());
    const diagnoses: string[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d.code));
    const error = await tunnel.start().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof TunnelStartError, `expected a TunnelStartError, got ${String(error)}`);
    assert.equal(error.diagnosis.code, 'PORT_IN_USE');
    assert.equal(error.field, 'listen');
    assert.match(error.message, /^Tunnel "squatted": /);
    assert.ok(error.message.includes(String(port)), error.message);
    assert.equal(tunnel.state, 'error');
    assert.deepEqual(diagnoses, ['PORT_IN_USE']);
    assert.equal(tunnel.snapshot().lastDiagnosis?.code, 'PORT_IN_USE');
    await within(tunnel.stop(), 2000, 'stop after a failed start');
    assert.equal(tunnel.state, 'stopped');
  });

  test('stopping one tunnel leaves another one running', { timeout: 10_000 }, async (t) => {
    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());
    const a = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'a' }));
    const b = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'b' }));
    const onB = await connectLocal(t, tunnelPort(b));
    assert.equal(await echoOnce(onB, 'before'), 'before');
    await a.stop();
    // Proving that nothing happens to b: a moment for a stray close to reach its connection.
    await sleep(50);
    assert.equal(await echoOnce(onB, 'after'), 'after');
    const fresh = await connectLocal(t, tunnelPort(b));
    assert.equal(await echoOnce(fresh, 'fresh'), 'fresh');
  });
});
