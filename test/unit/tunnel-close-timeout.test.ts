/**
 * closeTimeoutMs: once one side has half-closed, the other gets that long to finish before both
 * are closed; a side that finishes in time loses nothing (half-close stays intact).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import { MB, closed, connectLocal, readToEnd, recordingLogger, sha256, startTunnel, tunnelPort, until, writeAll } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

describe('tunnel close timeout', () => {
  const pki = withPki();

  test('the local client half-closes and the server never ends: both are closed after closeTimeoutMs', { timeout: 20_000 }, async (t) => {
    let serverSawEnd = false;
    const server = await startMtlsServer(pki(), {
      handler: (s) => {
        s.resume();
        // Says nothing and keeps its side open, as a hung server would.
        s.once('end', () => (serverSawEnd = true));
      },
    });
    t.after(() => server.close());
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'hung', closeTimeoutMs: 300 }), { logger });
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write('request');
    client.end();
    // The tunnel closes both sockets: the local client sees its connection close.
    await closed(client, 10_000);
    assert.ok(serverSawEnd, 'the end reached the server first (half-close propagated)');
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to be gone');
    const line = logger.lines.find((l) => l.includes('closeTimeoutMs'));
    assert.ok(line, `a log line says why: ${logger.lines.join('\n')}`);
    assert.match(line, /^info .*#1 the local client ended its side 300 ms ago/);
  });

  test('the server half-closes and the local client never ends: both are closed after closeTimeoutMs', { timeout: 20_000 }, async (t) => {
    let serverSocket: net.Socket | undefined;
    const server = await startMtlsServer(pki(), {
      handler: (s) => {
        serverSocket = s;
        s.resume();
        s.end('goodbye');
      },
    });
    t.after(() => server.close());
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'lingering', closeTimeoutMs: 300 }), { logger });
    const client = await connectLocal(t, tunnelPort(tunnel));
    const got = await readToEnd(client, 5000);
    assert.equal(got.data?.toString(), 'goodbye', 'the server\'s last word arrives before the end');
    // The local client keeps its side open and never ends it; the tunnel closes both sockets,
    // so the server, which ended first, sees the end it was waiting for and its socket closes.
    await until(() => serverSocket?.closed === true, 10_000, 'the server side to be closed');
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to be gone');
    assert.match(logger.lines.find((l) => l.includes('closeTimeoutMs')) ?? '', /^info .*#1 the server ended its side 300 ms ago/);
  });

  test('the other side finishing within closeTimeoutMs loses nothing, and no timeout fires', { timeout: 20_000 }, async (t) => {
    const request = randomBytes(300 * 1024);
    const reply = randomBytes(2 * MB);
    let serverGot: Buffer | undefined;
    const server = await startMtlsServer(pki(), {
      handler: (s) => {
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => chunks.push(d));
        // Replies only once it has seen the end, so the reply travels while the tunnel is half-closed.
        s.once('end', () => {
          serverGot = Buffer.concat(chunks);
          void writeAll(s, reply).catch(() => undefined);
        });
      },
    });
    t.after(() => server.close());
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'in-time', closeTimeoutMs: 10_000 }), { logger });
    const client = await connectLocal(t, tunnelPort(tunnel));
    const received = readToEnd(client, 10_000);
    await writeAll(client, request);
    const got = await received;
    assert.equal(serverGot?.length, request.length);
    assert.equal(sha256(serverGot!), sha256(request));
    assert.equal(got.bytes, reply.length);
    assert.equal(got.sha256, sha256(reply));
    await closed(client, 3000);
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connection to finish');
    assert.ok(!logger.lines.some((l) => l.includes('closeTimeoutMs')), 'no close timeout fired');
  });
});
