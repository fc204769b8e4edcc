/**
 * The tunnel's local listener: a plain-TCP server on the configured address, or a unix socket
 * (unixSocket.ts), and the plain-words reason when it cannot bind. Sockets arrive paused (the
 * connection decides when to read) and half-open allowed (a client's end is passed on, not
 * answered by closing).
 */
import * as net from 'node:net';
import { Endpoint, formatEndpoint, isSocketPath, ListenAddress, TunnelConfig } from '../config/model';
import { Diagnosis } from '../diagnostics/diagnosis';
import { Logger } from '../log';
import { bindSocketPath, removeSocketFile, SocketListenError, socketPathOf } from './unixSocket';

/** Binding failed: the diagnosis names the tunnel and "listen". */
export class ListenError extends Error {
  constructor(readonly diagnosis: Diagnosis) {
    super(diagnosis.summary);
  }
}

/** Resolves once `config.listen` is bound; rejects with ListenError. */
export async function bindListener(config: Pick<TunnelConfig, 'name' | 'listen'>, logger: Logger, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  const listen = config.listen;
  if (!isSocketPath(listen)) return bindTcp(config, listen, logger, onConnection);
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  try {
    await bindSocketPath(server, listen.path);
  } catch (e) {
    if (e instanceof SocketListenError) throw new ListenError({ ...e.problem, summary: `Tunnel "${config.name}": ${e.problem.summary}` });
    throw e;
  }
  server.on('error', (e) => logger.error(`listener error: ${e.message}`));
  server.on('connection', onConnection);
  return server;
}

function bindTcp(config: Pick<TunnelConfig, 'name' | 'listen'>, listen: Endpoint, logger: Logger, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    server.once('error', (e: NodeJS.ErrnoException) => reject(new ListenError(listenProblem(config.name, listen, e))));
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.removeAllListeners('error');
      server.on('error', (e) => logger.error(`listener error: ${e.message}`));
      server.on('connection', onConnection);
      resolve(server);
    });
  });
}

/** The address a server is bound to (the real port when the config says 0), or its socket path. */
export function boundAddress(server: net.Server | undefined): ListenAddress | undefined {
  const socketPath = server && socketPathOf(server);
  if (socketPath) return { path: socketPath };
  const a = server?.address();
  return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
}

/** Stops listening (open connections are not touched); a unix socket's file is removed at once. */
export function closeListener(server: net.Server, onClosed?: () => void): void {
  removeSocketFile(server);
  server.close(() => onClosed?.());
}

export function sameEndpoint(a: ListenAddress | undefined, b: ListenAddress | undefined): boolean {
  return a?.host === b?.host && a?.port === b?.port && (isSocketPath(a) ? a.path : undefined) === (isSocketPath(b) ? b.path : undefined);
}

function listenProblem(name: string, listen: Endpoint, e: NodeJS.ErrnoException): Diagnosis {
  const c = { name, listen };
  const where = formatEndpoint(listen);
  switch (e.code) {
    case 'EADDRINUSE':
      return { code: 'PORT_IN_USE', severity: 'error', summary: `Tunnel "${c.name}": port ${c.listen.port} on ${c.listen.host} is already in use.`, fix: `Stop whatever listens on ${where} (another tunnel, stunnel, a local database), or change "listen".`, detail: e.code };
    case 'EACCES':
      return { code: 'LISTEN_DENIED', severity: 'error', summary: `Tunnel "${c.name}": not allowed to listen on ${where}.`, fix: 'Ports below 1024 need privileges; pick a port above 1024 in "listen".', detail: e.code };
    case 'EADDRNOTAVAIL':
      return { code: 'LISTEN_ADDRESS_UNAVAILABLE', severity: 'error', summary: `Tunnel "${c.name}": ${c.listen.host} is not an address of this machine.`, fix: 'Use 127.0.0.1 (or ::1) in "listen".', detail: e.code };
    default:
      return { code: 'UNKNOWN', severity: 'error', summary: `Tunnel "${c.name}": cannot listen on ${where}: ${e.message}.`, fix: 'Check "listen".', detail: e.code };
  }
}
