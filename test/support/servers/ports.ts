/** Waiting until something really answers on a port (free ports: ../ports.ts). */
import * as tls from 'node:tls';

/**
 * Resolves true when a TLS server on the port takes part in a handshake: either it completes
 * (TLS 1.3 finishes on the client side before the server judges our missing certificate) or the
 * server answers with a TLS alert. A refused or silent port resolves false.
 */
export function tlsAnswers(port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
    const done = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    socket.once('error', (err: NodeJS.ErrnoException) => done(/alert|SSL/i.test(`${err.code} ${err.message}`)));
  });
}
