/**
 * The MySQL negotiation that runs over TLS after the handshake (the renumbered authentication
 * exchange) has a deadline of its own: a server that goes quiet there does not hold the local
 * connection and its upstream forever.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { readBytes, recordingLogger, startTunnel, tunnelPort, until, within } from '../support/tunnelKit';
import { tunnelConfig } from '../support/tunnels';

/** A MySQL 8 greeting that offers CLIENT_SSL and CLIENT_PROTOCOL_41. */
function greeting(): Buffer {
  const p = Buffer.concat([Buffer.from([0x0a]), Buffer.from('8.0.0\0'), Buffer.alloc(4), Buffer.alloc(8, 1), Buffer.from([0]), Buffer.from([0x00, 0x0a]), Buffer.alloc(20)]);
  p.writeUInt16LE(0x0200 | 0x8000 | 0x0800, 6 + 4 + 8 + 1 + 1);
  const h = Buffer.alloc(4);
  h.writeUIntLE(p.length, 0, 3);
  return Buffer.concat([h, p]);
}

describe('mysql negotiation deadline', () => {
  const pki = withPki();

  test('a server that never answers the HandshakeResponse is given up after connectTimeoutMs', { timeout: 20_000 }, async (t) => {
    const server = await startMtlsServer(pki(), {
      preamble: async (raw) => {
        raw.write(greeting());
        raw.pause();
        // The 36-byte SSLRequest; what follows (the ClientHello) belongs to TLS.
        await readBytes(raw, 36, 5000);
        return true;
      },
      // Then TLS, and the HandshakeResponse read and never answered; closes when the tunnel does.
      handler: (s) => {
        s.resume();
        s.once('end', () => s.end());
      },
    }, t);
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'quiet-mysql', protocol: 'mysql', connectTimeoutMs: 700 }), { logger });

    const client = net.connect({ port: tunnelPort(tunnel), host: '127.0.0.1' });
    client.on('error', () => undefined);
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    await within(new Promise((r) => client.once('data', r)), 5000, 'the relayed greeting');
    const response = Buffer.alloc(40);
    response.writeUInt32LE(0x0200 | 0x8000, 0);
    const header = Buffer.alloc(4);
    header.writeUIntLE(response.length, 0, 3);
    header[3] = 1;
    client.write(Buffer.concat([header, response]));

    await within(closed, 5000, "the local connection to close after the deadline");
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'no open connection');
    assert.equal(tunnel.snapshot().handshakesFailed.CONNECT_TIMEOUT, 1, JSON.stringify(tunnel.snapshot().handshakesFailed));
    assert.match(logger.lines.join('\n'), /no answer within 700 ms of the TLS handshake/, 'the deadline after the handshake, not the dial\'s');
    await until(() => server.open() === 0, 3000, 'the upstream to be let go');
  });
});
