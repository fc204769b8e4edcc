/**
 * A stream between TLS and the socket that passes everything through and hands each chunk from
 * the target to `record`: the doctor reads what the server said before (or instead of) TLS, and
 * the handshake records TLS 1.2 sends in the clear. It is wrapped after the proxy's CONNECT, so
 * the proxy's own answer is not taken for the target's.
 */
import * as net from 'node:net';
import { Duplex } from 'node:stream';

export function recordingTap(raw: net.Socket, record: (chunk: Buffer) => void): Duplex {
  const tap = new Duplex({
    read() {},
    write(chunk, _encoding, callback) {
      raw.write(chunk, callback);
    },
    destroy(error, callback) {
      raw.destroy();
      callback(error);
    },
  });
  raw.on('data', (chunk: Buffer) => {
    record(chunk);
    tap.push(chunk);
  });
  raw.on('end', () => tap.push(null));
  raw.on('error', (e) => tap.destroy(e));
  // proxyConnect paused the socket, and a new 'data' listener does not undo an explicit pause.
  raw.resume();
  return tap;
}
