/**
 * `resumption`: how a tunnel resumes its upstream TLS sessions, seen from the server's side of
 * real handshakes. The server (OpenSSL, TLS 1.3) sends two tickets after a full handshake and
 * none after a resumed one, so one connection after another resumes two in three with `once`
 * (each ticket once), all but the first with `reuse` (the newest ticket again and again), and
 * none with `off`. The pool's own rules are in tunnel-throughput-shape.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test, TestContext } from 'node:test';
import { Resumption } from '../../src/core/config/model';
import { SessionPool } from '../../src/core/tunnel/sessionPool';
import { startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';
import { connectLocal, readBytes, startTunnel, tunnelPort } from '../support/tunnelKit';

const pki = withPki();
const CONNECTIONS = 12;

/** Opens CONNECTIONS connections one after the other; which of them the server saw resume. */
async function resumedInTurn(t: TestContext, resumption?: Resumption): Promise<boolean[]> {
  const server = await startMtlsServer(pki(), { minVersion: 'TLSv1.3' }, t);
  const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'r', ...(resumption ? { resumption } : {}) }));
  const resumed: boolean[] = [];
  tunnel.on('connectionOpened', (c) => resumed.push(c.handshake?.resumed === true));
  for (let i = 0; i < CONNECTIONS; i++) {
    const s = await connectLocal(t, tunnelPort(tunnel));
    s.write('hi');
    // The tickets come right after the server's handshake, ahead of the echo: once it is back, they are kept.
    await readBytes(s, 2, 5000);
    s.destroy();
  }
  assert.equal(resumed.length, CONNECTIONS);
  return resumed;
}

describe('resumption', () => {
  test('once (the default): each ticket resumes one connection, two in three against this server', async (t) => {
    const resumed = await resumedInTurn(t);
    assert.deepEqual(resumed.slice(0, 6), [false, true, true, false, true, true]);
  });

  test('reuse: every connection after the first resumes with the newest ticket', async (t) => {
    const resumed = await resumedInTurn(t, 'reuse');
    assert.deepEqual(resumed, [false, ...Array(CONNECTIONS - 1).fill(true)]);
  });

  test('off: every connection is a full handshake', async (t) => {
    const resumed = await resumedInTurn(t, 'off');
    assert.deepEqual(resumed, Array(CONNECTIONS).fill(false));
  });

  test('the pool: reuse hands out the newest again and keeps only it; off keeps nothing', () => {
    const pool = new SessionPool();
    for (let i = 0; i < 3; i++) pool.keep(Buffer.from([i]), 'reuse');
    assert.equal(pool.size, 1);
    assert.deepEqual(pool.take('reuse'), Buffer.from([2]));
    assert.deepEqual(pool.take('reuse'), Buffer.from([2]), 'still there');
    const off = new SessionPool();
    off.keep(Buffer.from([1]), 'off');
    assert.equal(off.size, 0);
    assert.equal(off.take('off'), undefined);
  });
});
