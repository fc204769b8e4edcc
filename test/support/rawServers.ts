/**
 * Plain TCP servers on 127.0.0.1 that misbehave on purpose for diagnosis tests: ones that speak
 * plaintext, ones that never answer, a PostgreSQL that answers N to the SSLRequest. (A port with
 * nothing listening: `unusedPort` in ./ports.)
 */
import * as net from 'node:net';
import { listenLocal } from './ports';

export interface RawServer {
  port: number;
  close(): Promise<void>;
}

export async function startRawServer(onConnection: (socket: net.Socket) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  const port = await listenLocal(server);
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
