/**
 * Half-close in both directions (an end from one side becomes an end on the other while the
 * opposite direction keeps flowing), and backpressure: a local client that stops reading stalls
 * the server instead of making the tunnel buffer the stream.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import {
  MB, closed, connectLocal, readBytes, readToEnd, settled, sha256, startTunnel, tunnelPort, until, within, writeAll,
} from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

describe('tunnel half-close', () => {
  const pki = withPki();

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`client ends first, the server replies only after it saw the end, and the whole reply arrives (${version})`, { timeout: 20_000 }, async (t) => {
      const request = randomBytes(300 * 1024);
      const reply = randomBytes(2 * MB);
      const serverSaw: { bytes: number; sha: string; answer: () => void }[] = [];
      const server = await startMtlsServer(pki(), {
        maxVersion: version,
        handler: (s) => {
          const chunks: Buffer[] = [];
          s.on('data', (d: Buffer) => chunks.push(d));
          s.once('end', () => {
            const got = Buffer.concat(chunks);
            serverSaw.push({ bytes: got.length, sha: sha256(got), answer: () => void writeAll(s, reply).catch(() => undefined) });
          });
        },
      });
      t.after(() => server.close());
      const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'late-reply' }));
      const client = await connectLocal(t, tunnelPort(tunnel));
      const received = readToEnd(client, 10_000);
      await writeAll(client, request);
      await until(() => serverSaw.length === 1, 5000, 'the server to see the end of the request');
      // Both ends have said all they will, one way: the tunnel still holds the other way open.
      assert.equal(tunnel.snapshot().openConnections, 1, 'the half-closed connection is still open');
      assert.ok(!client.destroyed && !client.readableEnded, 'the local client still waits for the reply');
      serverSaw[0].answer();
      const got = await received;
      assert.equal(serverSaw[0].bytes, request.length);
      assert.equal(serverSaw[0].sha, sha256(request));
      assert.equal(got.bytes, reply.length);
      assert.equal(got.sha256, sha256(reply));
      await closed(client, 3000);
      await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to finish');
      assert.equal(tunnel.snapshot().handshakesOk, 1);
      assert.equal(tunnel.snapshot().lastHandshake?.version, version);
    });

    test(`server ends first, the client keeps sending and the server receives all of it (${version})`, { timeout: 20_000 }, async (t) => {
      const late = randomBytes(3 * MB);
      let serverGot: Promise<{ bytes: number; sha: string }> | undefined;
      let serverBytes = 0;
      const server = await startMtlsServer(pki(), {
        maxVersion: version,
        handler: (s) => {
          serverGot = new Promise((resolve) => {
            const h = createHash('sha256');
            let bytes = 0;
            s.on('data', (d: Buffer) => {
              bytes += d.length;
              serverBytes = bytes;
              h.update(d);
            });
            s.once('end', () => resolve({ bytes, sha: h.digest('hex') }));
          });
          s.end('greeting, and goodbye');
        },
      });
      t.after(() => server.close());
      const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'early-end' }));
      const client = await connectLocal(t, tunnelPort(tunnel));
      const greeting = await readToEnd(client, 5000);
      assert.equal(greeting.data!.toString(), 'greeting, and goodbye');
      // The server's side is closed; ours is not: keep talking, a little first, and the server hears it.
      assert.ok(!client.destroyed && client.writable, 'the local client can still write');
      client.write(late.subarray(0, 1000));
      await until(() => serverBytes === 1000, 5000, 'the server to receive the first 1000 bytes after its end');
      assert.equal(tunnel.snapshot().openConnections, 1, 'the tunnel kept the half-closed connection');
      await writeAll(client, late.subarray(1000));
      const got = await within(until(() => serverGot !== undefined, 3000, 'the server handler').then(() => serverGot!), 10_000, 'the server to receive everything');
      assert.equal(got.bytes, late.length);
      assert.equal(got.sha, sha256(late));
      await closed(client, 3000);
      await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to finish');
      assert.equal(tunnel.snapshot().bytesUp, late.length);
    });
  }

  test('client sends and ends, the server closes without a reply: a clean close, not a failure', { timeout: 10_000 }, async (t) => {
    // A sink (syslog over TLS, an upload) answers nothing: its end answers ours, it is no rejection.
    let serverGot = '';
    const sink = await startMtlsServer(pki(), {
      handler: (s) => {
        s.on('data', (d: Buffer) => (serverGot += d.toString()));
        s.once('end', () => s.end());
      },
    });
    t.after(() => sink.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), sink.port, { name: 'sink' }));
    const diagnoses: string[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d.code));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.end('one log line\n');
    const got = await readToEnd(client, 5000);
    assert.equal(got.bytes, 0);
    await closed(client, 3000);
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to finish');
    assert.equal(serverGot, 'one log line\n');
    assert.deepEqual(diagnoses, []);
    assert.equal(tunnel.snapshot().handshakesOk, 1);
    assert.deepEqual(tunnel.snapshot().handshakesFailed, {});
  });
});

describe('tunnel backpressure', () => {
  const pki = withPki();

  test('a paused local reader stalls the server; memory stays bounded; every byte arrives once resumed', { timeout: 30_000 }, async (t) => {
    const TOTAL = 64 * MB;
    const CHUNK = 64 * 1024;
    const base = randomBytes(CHUNK);
    const chunkAt = (i: number) => {
      const c = Buffer.from(base);
      c.writeUInt32BE(i, 0);
      return c;
    };
    const expected = createHash('sha256');
    for (let i = 0; i < TOTAL / CHUNK; i++) expected.update(chunkAt(i));
    const expectedSha = expected.digest('hex');

    const progress = { written: 0, blocked: false, maxWritableLength: 0 };
    const server = await startMtlsServer(pki(), {
      handler: (s) => {
        let i = 0;
        const pump = () => {
          while (i < TOTAL / CHUNK) {
            const c = chunkAt(i++);
            progress.written += c.length;
            const more = s.write(c);
            progress.maxWritableLength = Math.max(progress.maxWritableLength, s.writableLength);
            if (!more) {
              progress.blocked = true;
              s.once('drain', () => {
                progress.blocked = false;
                pump();
              });
              return;
            }
          }
          s.end();
        };
        pump();
      },
    });
    t.after(() => server.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'slow-reader' }));

    const memoryBefore = process.memoryUsage().arrayBuffers;
    const client = net.connect({ host: '127.0.0.1', port: tunnelPort(tunnel), allowHalfOpen: true });
    t.after(() => client.destroy());
    client.pause();
    // Read the first bytes to know the stream flows, then stop reading.
    const first = await readBytes(client, 1000, 5000);
    await until(() => progress.blocked, 5000, 'the server to be blocked by backpressure');
    // Buffers along the way fill up for a moment; then nothing may move for as long as we do not
    // read. Half a second of stillness is the proof (no event says "nothing happens").
    const [stalledAt, tunnelWroteAt] = await settled(() => [progress.written, tunnel.snapshot().bytesDown], 500, 10_000, 'the stream');
    assert.ok(progress.blocked, 'server write() returned false and has not drained');
    assert.ok(stalledAt < TOTAL / 2, `the server was stopped early (${stalledAt} of ${TOTAL} bytes handed over)`);
    assert.ok(tunnelWroteAt < 24 * MB, `the tunnel did not queue the stream for the client (${tunnelWroteAt} bytes written)`);
    const grown = process.memoryUsage().arrayBuffers - memoryBefore;
    assert.ok(grown < 32 * MB, `buffer memory grew by ${grown} bytes while paused`);

    client.unshift(first);
    const got = await readToEnd(client, 20_000, { keep: false });
    assert.equal(got.bytes, TOTAL);
    assert.equal(got.sha256, expectedSha);
    assert.equal(progress.written, TOTAL);
  });
});
