/**
 * Where a local client reaches a tunnel, and the command line that does it, per protocol: what
 * "Copy Address" and "Copy Client Command" put on the clipboard. The local leg is plain TCP, so
 * every command turns the client's own TLS off (psql would otherwise ask for it first).
 */
import * as os from 'node:os';
import { Endpoint } from '../core/config/model';
import { TunnelEntry } from '../core/manager';

export interface ClientCommand {
  /** The tool, as a quick pick shows it and as a command argument names it. */
  tool: string;
  detail: string;
  command: string;
}

/** The address actually bound while running (the real port when "listen" is 0), else the configured one. */
export function listenAddress(entry: Pick<TunnelEntry, 'config' | 'state' | 'snapshot'>): Endpoint {
  return (entry.state === 'running' && entry.snapshot?.listening) || entry.config.listen;
}

export function clientCommands(entry: Pick<TunnelEntry, 'config' | 'state' | 'snapshot'>): ClientCommand[] {
  const { host, port } = listenAddress(entry);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  // psql's own defaults, spelled out so the line is ready to edit.
  const user = safeUser();
  switch (entry.config.protocol) {
    case 'postgres':
    case 'postgres-direct':
      return [
        { tool: 'psql', detail: 'PostgreSQL shell', command: `psql "host=${host} port=${port} user=${user} dbname=${user} sslmode=disable"` },
        { tool: 'DATABASE_URL', detail: 'connection URL for apps and ORMs', command: `DATABASE_URL=postgres://${user}@${urlHost}:${port}/${user}?sslmode=disable` },
      ];
    case 'mysql':
      return [
        { tool: 'mysql', detail: 'MySQL shell', command: `mysql -h ${host} -P ${port} -u ${user} --ssl-mode=DISABLED` },
        { tool: 'DATABASE_URL', detail: 'connection URL for apps and ORMs', command: `DATABASE_URL=mysql://${user}@${urlHost}:${port}/${user}` },
      ];
    case 'tls':
      return [
        { tool: 'curl', detail: 'HTTP service', command: `curl http://${urlHost}:${port}/` },
        { tool: 'redis-cli', detail: 'Redis', command: `redis-cli -h ${host} -p ${port}` },
        { tool: 'nc', detail: 'any TCP service', command: `nc ${host} ${port}` },
      ];
  }
}

function safeUser(): string {
  try {
    const name = os.userInfo().username;
    return /^[\w.-]+$/.test(name) ? name : 'postgres';
  } catch {
    return 'postgres';
  }
}
