/** The doctor's one read from the server: what it does right after the handshake, without a byte sent. */
import * as tls from 'node:tls';

export type FirstRead = { kind: 'data' | 'quiet' | 'end' } | { kind: 'error'; error: NodeJS.ErrnoException };

/** Waits up to `ms` for what the server does after the handshake, without sending anything. */
export function firstRead(socket: tls.TLSSocket, ms: number): Promise<FirstRead> {
  return new Promise((resolve) => {
    const finish = (r: FirstRead) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      // Later errors (a reset after our close) are expected and of no interest.
      socket.on('error', () => undefined);
      resolve(r);
    };
    const onData = () => finish({ kind: 'data' });
    const onEnd = () => finish({ kind: 'end' });
    const onError = (error: NodeJS.ErrnoException) => finish({ kind: 'error', error });
    const timer = setTimeout(() => finish({ kind: 'quiet' }), ms);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}
