/**
 * The tunnel's local listener: a plain-TCP server on the configured address, and the plain-words
 * reason when it cannot bind. Sockets arrive paused (the connection decides when to read) and
 * half-open allowed (a client's end is passed on, not answered by closing).
 */
import * as net from 'node:net';
import { Endpoint, formatEndpoint, TunnelConfig } from '../config/model';
import { Diagnosis } from '../diagnostics/diagnosis';
import { Logger } from '../log';

/** Binding failed: the diagnosis names the tunnel and "listen". */
export class ListenError extends Error {
  constructor(readonly diagnosis: Diagnosis) {
    super(diagnosis.summary);
  }
}

/** Resolves once `config.listen` is bound; rejects with ListenError. */
export function bindListener(config: Pick<TunnelConfig, 'name' | 'listen'>, logger: Logger, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    server.once('error', (e: NodeJS.ErrnoException) => reject(new ListenError(listenProblem(config, e))));
    server.listen({ host: config.listen.host, port: config.listen.port }, () => {
      server.removeAllListeners('error');
      server.on('error', (e) => logger.error(`listener error: ${e.message}`));
      server.on('connection', onConnection);
      resolve(server);
    });
  });
}

/** The address a server is bound to (the real port when the config says 0). */
export function boundAddress(server: net.Server | undefined): Endpoint | undefined {
  const a = server?.address();
  return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
}

export function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return a?.host === b?.host && a?.port === b?.port;
}

function listenProblem(c: Pick<TunnelConfig, 'name' | 'listen'>, e: NodeJS.ErrnoException): Diagnosis {
  const where = formatEndpoint(c.listen);
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
