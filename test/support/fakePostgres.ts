/**
 * Just enough of the PostgreSQL wire protocol for tests: its messages, a fake server that checks
 * framing as the real one does, and a client session like psql's.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { TestContext } from 'node:test';
import { MtlsConnection } from './mtlsServer';
import { closed, connectLocal, readBytes } from './tunnelKit';

export const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
export const GSSENC_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
export const PROTOCOL_3 = 196608;
export const CANCEL = 80877102;

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function message(type: string, body: Buffer | string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(type), int32(b.length + 4), b]);
}

export function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.concat([int32(PROTOCOL_3), Buffer.from(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('') + '\0')]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** A CancelRequest: length 16, code 80877102, pid, secret key. */
export function cancelRequest(pid: number, secret: number): Buffer {
  return Buffer.concat([int32(16), int32(CANCEL), int32(pid), int32(secret)]);
}

export function errorResponse(text: string): Buffer {
  return message('E', `SFATAL\0C08P01\0M${text}\0\0`);
}

/**
 * A fake PostgreSQL inside TLS that checks framing as the real one does: a StartupMessage of
 * 8 to 10000 bytes with protocol 3.0 gets AuthenticationOk and ReadyForQuery; a CancelRequest
 * is read and closed; anything else gets an ErrorResponse and a close. After the startup,
 * `Q` gets CommandComplete + ReadyForQuery, `X` ends, a bad length is an error and a close.
 */
export function fakePostgres({ tls: s }: MtlsConnection): void {
  let buffered = Buffer.alloc(0);
  let started = false;
  const fatal = (text: string) => {
    s.end(errorResponse(text));
    s.off('data', onData);
    s.resume();
  };
  const onData = (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    for (;;) {
      if (!started) {
        if (buffered.length < 4) return;
        const len = buffered.readUInt32BE(0);
        if (len < 8 || len > 10_000) return fatal('invalid length of startup packet');
        if (buffered.length < len) return;
        const code = buffered.readUInt32BE(4);
        if (code === CANCEL) return void s.end();
        if (code !== PROTOCOL_3) return fatal(`unsupported frontend protocol ${code >>> 16}.${code & 0xffff}`);
        const params = buffered.subarray(8, len).toString('latin1').split('\0');
        if (!params.includes('user')) return fatal('no PostgreSQL user name specified in startup packet');
        s.write(Buffer.concat([message('R', int32(0)), message('Z', 'I')]));
        started = true;
        buffered = buffered.subarray(len);
        continue;
      }
      if (buffered.length < 5) return;
      const type = String.fromCharCode(buffered[0]);
      const len = buffered.readUInt32BE(1);
      if (len < 4 || len > 1 << 20) return fatal(`invalid message length ${len}`);
      if (buffered.length < len + 1) return;
      buffered = buffered.subarray(len + 1);
      if (type === 'X') return void s.end();
      if (type === 'Q') s.write(Buffer.concat([message('C', 'SELECT 1\0'), message('Z', 'I')]));
      else return fatal(`invalid frontend message type ${buffered[0]}`);
    }
  };
  s.on('data', onData);
  s.once('end', () => s.end());
}

/** Reads one backend message (type, body). */
export async function readMessage(socket: net.Socket, ms = 5000): Promise<{ type: string; body: Buffer }> {
  const head = await readBytes(socket, 5, ms);
  const len = head.readUInt32BE(1);
  return { type: String.fromCharCode(head[0]), body: len > 4 ? await readBytes(socket, len - 4, ms) : Buffer.alloc(0) };
}

/** What psql does: SSLRequest (answered N by the tunnel), StartupMessage, a query, Terminate. */
export async function postgresSession(t: TestContext | undefined, port: number): Promise<string[]> {
  const c = await connectLocal(t, port);
  c.write(SSL_REQUEST);
  assert.equal((await readBytes(c, 1, 5000)).toString(), 'N');
  c.write(startupMessage({ user: 'alice', database: 'app' }));
  const types: string[] = [];
  for (let m = await readMessage(c); ; m = await readMessage(c)) {
    types.push(m.type);
    if (m.type === 'Z') break;
  }
  c.write(message('Q', 'SELECT 1\0'));
  for (let m = await readMessage(c); ; m = await readMessage(c)) {
    types.push(m.type);
    if (m.type === 'Z') break;
  }
  c.write(message('X', ''));
  c.end();
  await closed(c, 5000);
  return types;
}
