/**
 * Where a local client reaches a tunnel, and the command line that does it, per protocol: what
 * "Copy Address" and "Copy Client Command" put on the clipboard. The local leg is plain TCP, so
 * every command turns the client's own TLS off (psql would otherwise ask for it first). The login
 * is the tunnel's `user`, else the client certificate's CN (certificate authentication maps it to
 * the database user); the commands most likely to fit the tunnel come first, so the picker
 * preselects them.
 */
import { clientEnv, clientKind, clientUser, readCertificateCommonName, socketClientCommands } from '../core/clientEnv';
import { isSocketPath, ListenAddress } from '../core/config/model';
import { TunnelEntry } from '../core/manager';

export interface ClientCommand {
  /** The tool, as a quick pick shows it and as a command argument names it. */
  tool: string;
  detail: string;
  command: string;
}

/** The address actually bound while running (the real port when "listen" is 0), else the configured one. */
export function listenAddress(entry: Pick<TunnelEntry, 'address'>): ListenAddress {
  return entry.address;
}

/** The variables a terminal or `exec` gives a client of this tunnel. */
export function tunnelClientEnv(entry: Pick<TunnelEntry, 'config' | 'address'>, commonName = readCertificateCommonName(entry.config.cert)): Record<string, string> {
  const { config } = entry;
  return clientEnv({ ...config, listen: listenAddress(entry), certificateCommonName: commonName });
}

export function clientCommands(entry: Pick<TunnelEntry, 'config' | 'address'>, commonName = readCertificateCommonName(entry.config.cert)): ClientCommand[] {
  const address = listenAddress(entry);
  if (isSocketPath(address)) return socketClientCommands(entry.config, address.path, tunnelClientEnv(entry, commonName), clientUser({ user: entry.config.user, certificateCommonName: commonName }));
  const { host, port } = address;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const { config } = entry;
  const user = clientUser({ user: config.user, certificateCommonName: commonName });
  const env = tunnelClientEnv(entry, commonName);
  const kind = clientKind(config);
  const url = env.DATABASE_URL ? [{ tool: 'DATABASE_URL', detail: 'connection URL for apps and ORMs', command: `DATABASE_URL=${env.DATABASE_URL}` }] : [];
  switch (kind) {
    case 'postgres': {
      const database = env.PGDATABASE;
      const params = [`host=${host}`, `port=${port}`, user && `user=${user}`, database && `dbname=${database}`, 'sslmode=disable'].filter(Boolean).join(' ');
      return [{ tool: 'psql', detail: 'PostgreSQL shell', command: `psql "${params}"` }, ...url];
    }
    case 'mysql':
      return [
        { tool: 'mysql', detail: 'MySQL shell', command: ['mysql', '-h', host, '-P', String(port), ...(user ? ['-u', user] : []), '--ssl-mode=DISABLED', ...(config.database ? [config.database] : [])].join(' ') },
        ...url,
      ];
    default: {
      const tools: Record<'curl' | 'redis-cli' | 'nc', ClientCommand> = {
        curl: { tool: 'curl', detail: 'HTTP service', command: `curl http://${urlHost}:${port}/` },
        'redis-cli': { tool: 'redis-cli', detail: 'Redis', command: `redis-cli -h ${host} -p ${port}` },
        nc: { tool: 'nc', detail: 'any TCP service: type a line, see the answer', command: `nc ${host} ${port}` },
      };
      const order: (keyof typeof tools)[] = kind === 'redis' ? ['redis-cli', 'nc', 'curl'] : kind === 'http' ? ['curl', 'nc', 'redis-cli'] : ['nc', 'curl', 'redis-cli'];
      return order.map((t) => tools[t]);
    }
  }
}
