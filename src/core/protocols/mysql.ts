/**
 * MySQL and MariaDB negotiate TLS inside their own protocol, which is why ghostunnel (issue 402)
 * and stunnel cannot carry them. The server speaks first, in plaintext:
 *
 *   server → greeting (seq 0)                relayed to the client with CLIENT_SSL cleared, so the
 *                                            client (run with --skip-ssl) stays plain
 *   client → HandshakeResponse (seq 1)       kept; its first 32 bytes become our SSLRequest
 *   us     → SSLRequest (seq 1), TLS handshake
 *   us     → HandshakeResponse (seq 2)       the client's, with CLIENT_SSL set
 *
 * From then on the server counts one packet more than the client, so until the connection phase
 * ends (the server's OK or ERR) packets are renumbered: server→client seq-1, client→server seq+1.
 * Commands reset the sequence to 0, after which bytes pass untouched.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { readExactly } from '../net/socketReader';
import { ProtocolError, ProtocolHandler } from './protocol';

const CLIENT_SSL = 0x0800;
const CLIENT_PROTOCOL_41 = 0x0200;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_PLUGIN_AUTH = 0x80000;
const MAX_PACKET = 1 << 24;

interface Packet {
  seq: number;
  payload: Buffer;
}

async function readPacket(socket: net.Socket, what: string, maxLength = MAX_PACKET): Promise<Packet> {
  const header = await readExactly(socket, 4);
  if (header.length < 4) throw new ProtocolError('PROTOCOL_ERROR', `the connection closed while waiting for the ${what}`);
  const length = header.readUIntLE(0, 3);
  if (length > maxLength) throw new ProtocolError('TARGET_SPEAKS_PLAINTEXT', `the target did not send a MySQL ${what} (it began with "${header.toString('latin1').replace(/[^\x20-\x7e]/g, '.')}"): it is not a MySQL/MariaDB server`);
  const payload = length === 0 ? Buffer.alloc(0) : await readExactly(socket, length);
  if (payload.length < length) throw new ProtocolError('PROTOCOL_ERROR', `the connection closed in the middle of the ${what}`);
  return { seq: header[3], payload };
}

function packet(seq: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = seq & 0xff;
  return Buffer.concat([header, payload]);
}

/** Offset of the lower capability flags in a protocol-10 greeting. */
function greetingCapabilityOffset(payload: Buffer): number {
  const versionEnd = payload.indexOf(0, 1);
  if (payload[0] !== 0x0a || versionEnd < 0) return -1;
  const offset = versionEnd + 1 + 4 + 8 + 1;
  return offset + 2 <= payload.length ? offset : -1;
}

function describeGreetingProblem(payload: Buffer): ProtocolError {
  if (payload[0] === 0xff) {
    const message = payload.subarray(payload[3] === 0x23 ? 9 : 3).toString('utf8');
    return new ProtocolError('PROTOCOL_ERROR', `the MySQL server refused the connection before any TLS: ${message}`);
  }
  return new ProtocolError('TARGET_SPEAKS_PLAINTEXT', 'the target did not send a MySQL greeting (protocol 10): it is not a MySQL/MariaDB server');
}

export const mysqlProtocol: ProtocolHandler = {
  preambleTalksToClient: true,
  async upstreamPreamble(upstream: net.Socket, client?: net.Socket) {
    // A real greeting is a few dozen bytes; anything claiming more is another protocol's text.
    const greeting = await readPacket(upstream, 'server greeting', 4096);
    const capOffset = greetingCapabilityOffset(greeting.payload);
    if (capOffset < 0) throw describeGreetingProblem(greeting.payload);
    const serverCaps = greeting.payload.readUInt16LE(capOffset);
    if (!(serverCaps & CLIENT_SSL)) {
      throw new ProtocolError('PROTOCOL_ERROR', 'the MySQL server does not offer TLS (no CLIENT_SSL capability): it has no ssl_cert/ssl_key configured');
    }

    if (!client) {
      // The handshake doctor: no client, so offer the usual modern capabilities.
      const request = Buffer.alloc(32);
      request.writeUInt32LE(CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_SSL, 0);
      request.writeUInt32LE(MAX_PACKET, 4);
      request[8] = 0x21; // utf8_general_ci
      upstream.write(packet(1, request));
      return undefined;
    }

    const plainGreeting = Buffer.from(greeting.payload);
    plainGreeting.writeUInt16LE(serverCaps & ~CLIENT_SSL, capOffset);
    client.write(packet(greeting.seq, plainGreeting));

    const response = await readPacket(client, 'client handshake response');
    if (response.payload.length < 32) throw new ProtocolError('PROTOCOL_ERROR', 'the local client sent a handshake response too short to be MySQL protocol 4.1');
    const clientCaps = response.payload.readUInt32LE(0);
    if (clientCaps & CLIENT_SSL) {
      // A client that asks for TLS itself would start a handshake we cannot answer in plaintext.
      throw new ProtocolError('PROTOCOL_ERROR', 'the local MySQL client asked for TLS itself; run it with --skip-ssl (or ssl-mode=DISABLED): the tunnel does the TLS');
    }
    const withSsl = Buffer.from(response.payload);
    withSsl.writeUInt32LE(clientCaps | CLIENT_SSL, 0);
    upstream.write(packet(response.seq, withSsl.subarray(0, 32)));

    return async (secure: tls.TLSSocket, local: net.Socket) => {
      secure.write(packet(response.seq + 1, withSsl));
      await renumberUntilAuthenticated(secure, local);
    };
  },
};

/**
 * Relays the rest of the connection phase with sequence ids shifted by one, then returns so the
 * caller can pipe bytes as they are. Turn by turn, never reading both sides at once, so no byte
 * of the first command can be taken by this exchange: the server speaks; after an OK or ERR the
 * phase is over; after "fast auth success" (01 03) the server speaks again; after anything else
 * (auth switch, more auth data) the client answers.
 */
async function renumberUntilAuthenticated(secure: tls.TLSSocket, local: net.Socket): Promise<void> {
  for (;;) {
    const reply = await readPacket(secure, 'server authentication reply');
    local.write(packet(reply.seq - 1, reply.payload));
    const first = reply.payload[0];
    if (first === 0x00 || first === 0xff) return;
    if (first === 0x01 && reply.payload[1] === 0x03) continue;
    const answer = await readPacket(local, 'client authentication data');
    secure.write(packet(answer.seq + 1, answer.payload));
  }
}
