/**
 * `protocol: "postgres"` without a real PostgreSQL: a fake server that answers the SSLRequest
 * with `S` (or `N`) and then speaks TLS. The local client's own SSLRequest and GSSENCRequest are
 * answered `N` by the tunnel and never forwarded; the StartupMessage and everything after it
 * travel byte-exact inside TLS; a server that refuses TLS becomes an ErrorResponse psql prints.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { describe, test, TestContext } from 'node:test';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { MtlsServer, startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import {
  connectLocal, readBytes, readToEnd, startTunnel, tunnelPort, until, within,
} from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';
import { listenLocal } from '../support/ports';
import { CANCEL, cancelRequest, GSSENC_REQUEST, message, SSL_REQUEST, startupMessage } from '../support/fakePostgres';

const AUTH_OK = message('R', Buffer.from([0, 0, 0, 0]));
const READY = message('Z', Buffer.from('I'));

interface FakePostgres extends MtlsServer {
  /** The first 8 plaintext bytes of each connection (the tunnel's own SSLRequest). */
  preambles: Buffer[];
  /** Everything each connection received inside TLS. */
  received: Buffer[][];
}

/**
 * A fake PostgreSQL: reads the SSLRequest in plaintext, answers `answer`, and on `S` starts TLS.
 * Inside TLS it waits for a whole StartupMessage (or CancelRequest), answers AuthenticationOk +
 * ReadyForQuery to a startup, then echoes whatever follows.
 */
async function startFakePostgres(t: TestContext, pki: ThrowawayPki, answer: 'S' | 'N'): Promise<FakePostgres> {
  const preambles: Buffer[] = [];
  const received: Buffer[][] = [];
  const backend = await startMtlsServer(pki, {
    preamble: async (raw) => {
      raw.pause();
      const head = await readBytes(raw, 8, 5000);
      preambles.push(head);
      if (!head.equals(SSL_REQUEST)) {
        raw.destroy();
        return false;
      }
      raw.write(answer);
      if (answer === 'N') {
        // A server with ssl = off would now expect a plaintext StartupMessage; the tunnel hangs up.
        raw.resume();
        return false;
      }
      return true;
    },
    handler: (tls) => {
      const chunks: Buffer[] = [];
      received.push(chunks);
      let startupDone = false;
      tls.on('data', (d: Buffer) => {
        chunks.push(d);
        if (startupDone) {
          tls.write(d);
          return;
        }
        const all = Buffer.concat(chunks);
        if (all.length < 8 || all.length < all.readUInt32BE(0)) return;
        startupDone = true;
        const len = all.readUInt32BE(0);
        if (all.readUInt32BE(4) === CANCEL) {
          tls.end();
          return;
        }
        tls.write(Buffer.concat([AUTH_OK, READY]));
        if (all.length > len) tls.write(all.subarray(len));
      });
      tls.on('end', () => tls.end());
    },
  }, t);
  return Object.assign(backend, { preambles, received });
}

describe('tunnel postgres preamble', () => {
  const pki = withPki();

  test("the client's SSLRequest and GSSENCRequest are answered N locally; the StartupMessage and what follows go byte-exact over TLS", { timeout: 15_000 }, async (t) => {
    const pg = await startFakePostgres(t, pki(), 'S');
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg.port, { name: 'pg', protocol: 'postgres' }));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.pause();

    // What psql does with sslmode=prefer and gssencmode=prefer: ask, wait for the answer.
    client.write(GSSENC_REQUEST);
    assert.equal((await readBytes(client, 1, 3000)).toString(), 'N');
    client.write(SSL_REQUEST);
    assert.equal((await readBytes(client, 1, 3000)).toString(), 'N');
    const startup = startupMessage({ user: 'alice', database: 'app', application_name: 'psql' });
    client.write(startup);
    assert.deepEqual(await readBytes(client, AUTH_OK.length + READY.length, 5000), Buffer.concat([AUTH_OK, READY]));

    const query = message('Q', Buffer.concat([Buffer.from('SELECT '), randomBytes(64 * 1024), Buffer.from([0])]));
    client.write(query);
    assert.deepEqual(await readBytes(client, query.length, 5000), query);
    client.end();
    await readToEnd(client, 3000);

    assert.equal(pg.preambles.length, 1);
    assert.deepEqual(pg.preambles[0], SSL_REQUEST, "the tunnel's own SSLRequest, in plaintext");
    assert.deepEqual(pg.clients, ['alice']);
    assert.deepEqual(Buffer.concat(pg.received[0]), Buffer.concat([startup, query]), 'inside TLS: exactly the startup and the query');
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to close');
    const s = tunnel.snapshot();
    assert.equal(s.handshakesOk, 1);
    // Our local answers count as bytes sent down; the SSLRequest/GSSENCRequest as bytes sent up.
    assert.equal(s.bytesUp, 16 + startup.length + query.length);
    assert.equal(s.bytesDown, 2 + AUTH_OK.length + READY.length + query.length);
  });

  test('requests pipelined in one write are answered in order and only the startup is forwarded', { timeout: 15_000 }, async (t) => {
    const pg = await startFakePostgres(t, pki(), 'S');
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg.port, { name: 'pg-pipelined', protocol: 'postgres' }));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.pause();
    const startup = startupMessage({ user: 'alice', database: 'pipelined' });
    client.write(Buffer.concat([SSL_REQUEST, GSSENC_REQUEST, startup]));
    assert.equal((await readBytes(client, 2, 3000)).toString(), 'NN');
    assert.deepEqual(await readBytes(client, AUTH_OK.length + READY.length, 5000), Buffer.concat([AUTH_OK, READY]));
    await until(() => pg.received.length === 1 && Buffer.concat(pg.received[0]).length >= startup.length, 3000, 'the startup to arrive');
    assert.deepEqual(Buffer.concat(pg.received[0]), startup);
  });

  test('a CancelRequest is forwarded untouched', { timeout: 15_000 }, async (t) => {
    const pg = await startFakePostgres(t, pki(), 'S');
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg.port, { name: 'pg-cancel', protocol: 'postgres' }));
    const client = await connectLocal(t, tunnelPort(tunnel));
    const cancel = cancelRequest(4242, 0x12345678);
    client.write(cancel);
    const reply = await readToEnd(client, 5000);
    assert.equal(reply.bytes, 0);
    assert.deepEqual(Buffer.concat(pg.received[0]), cancel);
  });

  test('a server that answers N: the local client gets an ErrorResponse naming the tunnel; POSTGRES_SSL_REFUSED is counted', { timeout: 15_000 }, async (t) => {
    const pg = await startFakePostgres(t, pki(), 'N');
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg.port, { name: 'pg-no-ssl', protocol: 'postgres' }));
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.pause();
    client.write(SSL_REQUEST);
    assert.equal((await readBytes(client, 1, 3000)).toString(), 'N');
    client.write(startupMessage({ user: 'alice', database: 'app' }));
    const reply = (await readToEnd(client, 5000)).data!;
    client.end();

    assert.equal(String.fromCharCode(reply[0]), 'E', 'an ErrorResponse');
    assert.equal(reply.readUInt32BE(1), reply.length - 1, 'one whole message');
    const fields = new Map<string, string>();
    for (const f of reply.subarray(5, reply.length - 1).toString('utf8').split('\0').filter(Boolean)) fields.set(f[0], f.slice(1));
    assert.equal(fields.get('S'), 'FATAL');
    assert.equal(fields.get('C'), '08006');
    assert.match(fields.get('M') ?? '', /Tunnel "pg-no-ssl"/);
    assert.match(fields.get('M') ?? '', /refused TLS/);
    assert.ok((fields.get('H') ?? '').length > 0, 'a hint says what to change');

    assert.equal(tunnel.snapshot().handshakesFailed.POSTGRES_SSL_REFUSED, 1);
    assert.equal(tunnel.snapshot().handshakesOk, 0);
    assert.equal(diagnoses[0]?.code, 'POSTGRES_SSL_REFUSED');
    assert.deepEqual(pg.preambles, [SSL_REQUEST]);
    assert.deepEqual(pg.clients, [], 'no TLS session was started');
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to close');
  });

  test('a target that is not PostgreSQL at all (answers TLS to the SSLRequest) is a PROTOCOL_ERROR', { timeout: 15_000 }, async (t) => {
    // A plain TLS server: it takes the SSLRequest as a broken ClientHello and answers with an alert.
    const server = net.createServer((s) => {
      s.once('data', () => s.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32])));
      s.on('error', () => undefined);
    });
    await listenLocal(server);
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const tunnel = await startTunnel(t, tunnelConfig(pki(), (server.address() as net.AddressInfo).port, { name: 'pg-wrong', protocol: 'postgres' }));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write(startupMessage({ user: 'alice' }));
    const reply = (await readToEnd(client, 5000)).data!;
    assert.equal(String.fromCharCode(reply[0]), 'E');
    assert.match(reply.toString('utf8'), /Tunnel "pg-wrong"/);
    await within(until(() => tunnel.snapshot().handshakesFailed.PROTOCOL_ERROR === 1, 3000, 'the failure to be counted'), 4000, 'count');
  });
});
