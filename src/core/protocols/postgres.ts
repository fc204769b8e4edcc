/**
 * PostgreSQL speaks plain first: the client sends an SSLRequest and TLS starts only after the
 * server answers `S`. Locally, psql's default sslmode=prefer sends its own SSLRequest (and
 * gssencmode=prefer a GSSENCRequest) to us; we answer `N` so a default `psql -h 127.0.0.1` works,
 * which stunnel's pgsql mode does not do.
 */
import * as net from 'node:net';
import { Diagnosis } from '../diagnostics/diagnosis';
import { readExactly } from '../net/socketReader';
import { ProtocolError, ProtocolHandler } from './protocol';

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const GSSENC_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
const NO = Buffer.from('N');
const CANCEL_REQUEST_CODE = 80877102;

export const postgresProtocol: ProtocolHandler = {
  async upstreamPreamble(upstream: net.Socket): Promise<void> {
    upstream.write(SSL_REQUEST);
    const answer = await readExactly(upstream, 1);
    if (answer.length === 0) throw new ProtocolError('PROTOCOL_ERROR', 'the server closed the connection after the SSLRequest');
    const c = String.fromCharCode(answer[0]);
    if (c === 'S') return;
    if (c === 'N') throw new ProtocolError('POSTGRES_SSL_REFUSED', 'the PostgreSQL server answered N to SSLRequest: it has ssl = off');
    if (c === 'E') throw new ProtocolError('PROTOCOL_ERROR', 'the server answered SSLRequest with an error: it is a PostgreSQL server too old for SSL, or not PostgreSQL');
    if (answer[0] === 0x15 || answer[0] === 0x16) throw new ProtocolError('PROTOCOL_ERROR', 'the server answered SSLRequest with TLS: it expects TLS from the first byte (use protocol "tls" or "postgres-direct")');
    const byte = `byte 0x${answer[0].toString(16).padStart(2, '0')}`;
    throw new ProtocolError('TARGET_SPEAKS_PLAINTEXT', `the server answered SSLRequest with ${byte}: it does not look like PostgreSQL`, { request: 'SSLRequest', answer: byte, expected: 'PostgreSQL' });
  },

  async clientPreamble(client: net.Socket): Promise<Buffer | undefined> {
    for (;;) {
      const head = await readExactly(client, 8);
      if (head.length < 8) return head.length === 0 ? undefined : head;
      if (head.equals(SSL_REQUEST) || head.equals(GSSENC_REQUEST)) {
        client.write(NO);
        continue;
      }
      // A StartupMessage or a CancelRequest: forward it untouched.
      return head;
    }
  },

  // psql's Ctrl-C: a CancelRequest on a connection of its own, which the server reads and closes.
  closesSilently: (early: Buffer) => early.length >= 8 && early.readUInt32BE(4) === CANCEL_REQUEST_CODE,

  failClient(diagnosis: Diagnosis): Buffer {
    // ErrorResponse: severity FATAL, SQLSTATE 08006 (connection_failure), message and hint.
    const field = (type: string, value: string) => Buffer.concat([Buffer.from(type), Buffer.from(value, 'utf8'), Buffer.from([0])]);
    const body = Buffer.concat([
      field('S', 'FATAL'), field('V', 'FATAL'), field('C', '08006'),
      field('M', `mTLS tunnel: ${diagnosis.summary}`), field('H', diagnosis.fix), Buffer.from([0]),
    ]);
    const header = Buffer.alloc(5);
    header.write('E', 0);
    header.writeUInt32BE(body.length + 4, 1);
    return Buffer.concat([header, body]);
  },
};
