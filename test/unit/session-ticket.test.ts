/**
 * Sessions are kept without the server's certificate (tls/sessionTicket.ts): decoding it again
 * cost every resumed connection ~0.4 ms. A TLS 1.3 session from a real handshake loses exactly
 * that certificate and still resumes, and Node says the same of the resumed connection as with
 * the whole session; a TLS 1.2 session, and anything that is not a session, is kept as it came.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { describe, test, TestContext } from 'node:test';
import { withoutServerCertificate } from '../../src/core/tls/sessionTicket';
import { startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';

const pki = withPki();

interface Dialled {
  resumed: boolean;
  authorized: boolean;
  peerSubject: string | undefined;
  sessions: Buffer[];
}

async function dial(port: number, session?: Buffer): Promise<Dialled> {
  const p = pki();
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', cert: readFileSync(p.client.cert), key: readFileSync(p.client.key), ca: readFileSync(p.ca), session });
  const sessions: Buffer[] = [];
  socket.on('session', (s) => sessions.push(s));
  await new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  socket.write('x');
  // The echo comes after the server's tickets: once it is here, so are they.
  await new Promise((resolve) => socket.once('data', resolve));
  const peer = socket.getPeerCertificate();
  const seen = { resumed: socket.isSessionReused(), authorized: socket.authorized, peerSubject: peer?.subject?.CN as string | undefined, sessions };
  socket.destroy();
  return seen;
}

async function sessionFrom(t: TestContext, maxVersion: tls.SecureVersion): Promise<{ port: number; session: Buffer }> {
  const server = await startMtlsServer(pki(), { maxVersion }, t);
  const first = await dial(server.port);
  assert.ok(first.sessions.length > 0, 'the server sent a session');
  return { port: server.port, session: first.sessions[first.sessions.length - 1] };
}

describe('a kept session without the server certificate', () => {
  test('TLS 1.3: the certificate is gone, the session resumes, and Node reports the connection as before', async (t) => {
    const { port, session } = await sessionFrom(t, 'TLSv1.3');
    const serverDer = new X509Certificate(readFileSync(pki().server.cert)).raw;
    assert.ok(session.includes(serverDer), 'a session from Node holds the server certificate');
    const slim = withoutServerCertificate(session);
    assert.ok(!slim.includes(serverDer), 'the certificate was taken out');
    assert.equal(session.length - slim.length > serverDer.length, true);
    const whole = await dial(port, session);
    const kept = await dial(port, slim);
    assert.deepEqual({ ...kept, sessions: [] }, { ...whole, sessions: [] });
    assert.equal(kept.resumed, true);
    assert.equal(kept.authorized, true);
  });

  test('TLS 1.2 sessions and anything else are kept as they came', async (t) => {
    const { session } = await sessionFrom(t, 'TLSv1.2');
    assert.equal(withoutServerCertificate(session), session);
    for (const junk of [Buffer.alloc(0), Buffer.from([0x30]), Buffer.from([0x30, 0x05, 0x02, 0x01]), Buffer.from('not DER at all')]) {
      assert.equal(withoutServerCertificate(junk), junk);
    }
  });
});
