/**
 * Reading the first bytes of a socket before someone else takes it over: a protocol preamble
 * (PostgreSQL's one-byte answer, MySQL's packets, psql's SSLRequest), a proxy's answer to CONNECT,
 * a probe's first word. Bytes arrive in any number of pieces; what was read beyond what the reader
 * wanted is put back (`unshift`) for the next reader, and the socket is left paused, so whoever
 * comes next (TLS, forward(), another read) sees every byte in order.
 *
 * API:
 * - `readUntil(socket, decide, { onEnd })`: calls `decide(buffered)` with everything read so far
 *   after each piece. `decide` returns `undefined` for "not yet", `{ value, consumed }` when done
 *   (the bytes after `consumed` go back on the socket), or throws to fail the read. If the socket
 *   ends or closes first, `onEnd(buffered)` gives the value (or throws); without `onEnd` the read
 *   rejects with a SocketEndedError. A socket error rejects with that error. The caller bounds
 *   the wait (its own deadline destroys the socket, which ends the read); this module sets no timer.
 * - `readExactly(socket, n)`: exactly `n` bytes, or what arrived before the end.
 */
import * as net from 'node:net';

export type Decision<T> = { value: T; consumed: number } | undefined;

export interface ReadOptions<T> {
  /** The socket ended or closed before `decide` was done: the value to resolve with, or throw. */
  onEnd?: (buffered: Buffer) => T;
}

export class SocketEndedError extends Error {
  constructor(readonly buffered: Buffer) {
    super(`the connection ended after ${buffered.length} byte(s), before the answer was complete`);
  }
}

export function readUntil<T>(socket: net.Socket, decide: (buffered: Buffer) => Decision<T>, options: ReadOptions<T> = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let decision: Decision<T>;
      try {
        decision = decide(buffered);
      } catch (e) {
        cleanup();
        reject(e);
        return;
      }
      if (!decision) return;
      cleanup();
      socket.pause();
      if (buffered.length > decision.consumed) socket.unshift(buffered.subarray(decision.consumed));
      resolve(decision.value);
    };
    const onEnd = () => {
      cleanup();
      try {
        if (!options.onEnd) throw new SocketEndedError(buffered);
        resolve(options.onEnd(buffered));
      } catch (e) {
        reject(e);
      }
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

/** Reads exactly `n` bytes (or resolves with what arrived before the end), leaving the rest unshifted. */
export function readExactly(socket: net.Socket, n: number): Promise<Buffer> {
  return readUntil(socket, (b) => (b.length >= n ? { value: b.subarray(0, n), consumed: n } : undefined), { onEnd: (b) => b });
}
