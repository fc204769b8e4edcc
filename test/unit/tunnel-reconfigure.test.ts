/**
 * Settings change under live connections (Tunnel.reconfigure): a changed ca, target or listen
 * applies to new connections while an open one keeps echoing; a new "listen" is bound before the
 * old listener closes; a new address that cannot be bound, or credentials that do not load, leave
 * the tunnel running as it was with a warning naming the field, which a later success clears.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import * as net from 'node:net';
import { before, describe, test } from 'node:test';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { tunnelConfig } from '../support/tunnels';
import { readExactly } from '../../src/core/net/socketReader';
import {
  connectError, connectLocal, echoOnce, readBytes, readToEnd, startTunnel, tunnelPort, within,
} from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';
import { unusedPort } from '../support/ports';
import { startMtlsServer } from '../support/mtlsServer';

// The server's default handler echoes.
const echo = {};


describe('a running tunnel takes new settings', () => {
  // Two PKIs: a second server's certificate comes from a CA the first settings do not trust.
  const ours = withPki();
  const theirs = withPki();
  let pki: ThrowawayPki;
  let other: ThrowawayPki;
  before(async () => {
    [pki, other] = await Promise.all([ours.ready(), theirs.ready()]);
  });

  test('a changed target and ca apply to new connections; the open one keeps its upstream', { timeout: 15_000 }, async (t) => {
    const first = await startMtlsServer(pki, echo, t);
    // The second server has a certificate from another CA, and trusts our client CA.
    const second = await startMtlsServer(pki, { ...echo, identity: other.server }, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, first.port, { name: 'moves' }));
    const open = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(open, 'before'), 'before');

    const applied = await within(tunnel.reconfigure(tunnelConfig(other, second.port, { name: 'moves', cert: pki.client.cert, key: pki.client.key })), 5000, 'reconfigure');
    assert.equal(applied, true);
    assert.equal(tunnel.state, 'running');

    const fresh = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(fresh, 'new'), 'new');
    assert.equal(second.accepted, 1, 'the new connection reached the new target, verified against the new ca');
    assert.equal(await echoOnce(open, 'still'), 'still', 'the open connection kept flowing');
    assert.equal(first.accepted, 1);
    assert.equal(first.open(), 1, 'its upstream to the old target is still open');
  });

  test('a changed protocol applies to new connections: postgres asks for TLS with an SSLRequest, the open tls one continues', { timeout: 15_000 }, async (t) => {
    const plain = await startMtlsServer(pki, echo, t);
    let sslRequests = 0;
    const postgres = await startMtlsServer(pki, {
      ...echo,
      preamble: async (raw) => {
        const request = await readExactly(raw, 8);
        if (request.readUInt32BE(4) !== 80877103) return false;
        sslRequests++;
        raw.write('S');
        return true;
      },
    }, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, plain.port, { name: 'speaks' }));
    const open = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(open, 'tls'), 'tls');
    assert.equal(await tunnel.reconfigure(tunnelConfig(pki, postgres.port, { name: 'speaks', protocol: 'postgres' })), true);
    const fresh = await connectLocal(t, tunnelPort(tunnel));
    const startup = Buffer.from([0, 0, 0, 8, 0, 3, 0, 0]);
    fresh.write(startup);
    assert.deepEqual(await readBytes(fresh, 8, 3000), startup, 'the StartupMessage went over TLS after the SSLRequest');
    assert.equal(sslRequests, 1);
    assert.equal(await echoOnce(open, 'still tls'), 'still tls');
  });

  test('a lower maxConnections refuses new connections beyond it and leaves the open ones be', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'limits' }));
    const a = await connectLocal(t, tunnelPort(tunnel));
    const b = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(a, 'a'), 'a');
    assert.equal(await echoOnce(b, 'b'), 'b');
    assert.equal(await tunnel.reconfigure(tunnelConfig(pki, backend.port, { name: 'limits', maxConnections: 1 })), true);
    const refused = await connectLocal(t, tunnelPort(tunnel));
    const end = await readToEnd(refused, 3000, { keep: false });
    assert.equal(end.bytes, 0, 'the third connection is closed without a byte');
    assert.equal(await echoOnce(a, 'a2'), 'a2', 'both open connections continue above the new limit');
    assert.equal(await echoOnce(b, 'b2'), 'b2');
  });

  test('a changed listen binds the new address first; the old one refuses only after', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'rebinds' }));
    const oldPort = tunnelPort(tunnel);
    const open = await connectLocal(t, oldPort);
    assert.equal(await echoOnce(open, 'before'), 'before');
    const newPort = await unusedPort();

    // While the new address is being bound, the old one still accepts.
    const reconfigured = tunnel.reconfigure(tunnelConfig(pki, backend.port, { name: 'rebinds', listen: newPort }));
    assert.equal(await connectError(oldPort), undefined, 'the old address accepts until the new one is bound');
    const applied = await within(reconfigured, 5000, 'reconfigure');
    assert.equal(applied, true);
    assert.equal(tunnelPort(tunnel), newPort);
    assert.equal((await connectError(oldPort))?.code, 'ECONNREFUSED', 'the old address is closed');
    const fresh = await connectLocal(t, newPort);
    assert.equal(await echoOnce(fresh, 'new'), 'new');
    assert.equal(await echoOnce(open, 'still'), 'still', 'the connection accepted on the old address continues');
  });

  test('a new listen that cannot be bound leaves the old one running, with a warning naming "listen"', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'stays' }));
    const oldPort = tunnelPort(tunnel);
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    t.after(() => busy.close());
    const busyPort = (busy.address() as net.AddressInfo).port;

    const applied = await within(tunnel.reconfigure(tunnelConfig(pki, backend.port, { name: 'stays', listen: busyPort, connectTimeoutMs: 2000 })), 5000, 'reconfigure');
    assert.equal(applied, false);
    assert.equal(tunnel.state, 'running');
    assert.equal(tunnelPort(tunnel), oldPort, 'still listening where it was');
    const d = tunnel.diagnosis;
    assert.equal(d?.code, 'PORT_IN_USE');
    assert.equal(d?.severity, 'warning');
    assert.match(d!.fix, /"listen"/);
    assert.match(d!.fix, new RegExp(`keeps listening on 127\\.0\\.0\\.1:${oldPort}`));
    assert.equal(tunnel.config.connectTimeoutMs, 2000, 'the other changed settings still apply');
    const c = await connectLocal(t, oldPort);
    assert.equal(await echoOnce(c, 'old port'), 'old port');

    // Once the port is free, the next change binds it and the warning is gone.
    await new Promise<void>((resolve) => busy.close(() => resolve()));
    assert.equal(await tunnel.reconfigure(tunnelConfig(pki, backend.port, { name: 'stays', listen: busyPort, connectTimeoutMs: 2500 })), true);
    assert.equal(tunnelPort(tunnel), busyPort);
    assert.equal(tunnel.diagnosis, undefined, 'a later success clears the warning');
  });

  test('new credentials that do not load keep the old settings and credentials, with a warning', { timeout: 15_000 }, async (t) => {
    const first = await startMtlsServer(pki, echo, t);
    const second = await startMtlsServer(pki, echo, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, first.port, { name: 'keeps' }));
    const missing = `${pki.client.key}.missing`;
    await rm(missing, { force: true });
    const applied = await tunnel.reconfigure(tunnelConfig(pki, second.port, { name: 'keeps', key: missing }));
    assert.equal(applied, false);
    assert.equal(tunnel.state, 'running');
    assert.equal(tunnel.diagnosis?.severity, 'warning');
    assert.match(tunnel.diagnosis!.fix, /keeps using its previous settings and credentials/);
    const c = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(c, 'old'), 'old');
    assert.equal(first.accepted, 1, 'new connections still use the old target');
    assert.equal(second.accepted, 0);
  });
});
