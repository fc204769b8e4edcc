/**
 * What a local client needs to reach a tunnel, as environment variables: the one place that knows
 * `PGHOST`, `MYSQL_TCP_PORT`, `REDIS_URL` and friends. The editor's Open Terminal and client
 * commands use it, and so will the CLI's `exec`. The local leg is plain TCP, so PostgreSQL's own
 * TLS is turned off (`PGSSLMODE=disable`); the tunnel does TLS upstream.
 *
 * With certificate authentication the server maps the certificate's CN to the login, so the user
 * defaults to that CN (the caller reads it); `user` and `database` in the tunnel's settings win.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Endpoint, Protocol, TunnelConfig, formatEndpoint } from './config/model';

/** What kind of client the tunnel serves: decides the variables and the suggested command. */
export type ClientKind = 'postgres' | 'mysql' | 'redis' | 'http' | 'tcp';

/** A TCP address, or a unix socket path (PostgreSQL's `DIR/.s.PGSQL.PORT`). */
export type LocalAddress = Endpoint | { path: string };

export interface ClientEnvInput {
  name: string;
  protocol: Protocol;
  target: Endpoint;
  /** Where local clients connect: the bound address while running, else the configured one. */
  listen: LocalAddress;
  user?: string;
  database?: string;
  /** The client certificate's common name, the login under certificate authentication. */
  certificateCommonName?: string;
}

const HTTP_PORTS = new Set([80, 443, 3000, 5000, 8000, 8008, 8080, 8443, 8888, 9200]);
const REDIS_PORTS = new Set([6379, 6380]);

/** The client the tunnel most likely serves: its protocol first, then the target's port, then its name. */
export function clientKind(config: Pick<TunnelConfig, 'protocol' | 'target' | 'name'>): ClientKind {
  if (config.protocol === 'postgres' || config.protocol === 'postgres-direct') return 'postgres';
  if (config.protocol === 'mysql') return 'mysql';
  const port = config.target.port;
  if (port === 5432) return 'postgres';
  if (port === 3306) return 'mysql';
  if (REDIS_PORTS.has(port) || /redis/i.test(config.name)) return 'redis';
  if (HTTP_PORTS.has(port) || /\b(https?|api|web)\b/i.test(config.name)) return 'http';
  return 'tcp';
}

/** The login: the tunnel's `user`, else the certificate's CN (when it is a plausible user name). */
export function clientUser(input: Pick<ClientEnvInput, 'user' | 'certificateCommonName'>): string | undefined {
  if (input.user) return input.user;
  const cn = input.certificateCommonName?.trim();
  return cn && /^[^\s"'\\]+$/.test(cn) ? cn : undefined;
}

/** Every variable a client of this tunnel needs; none that would be wrong (no user when none is known). */
export function clientEnv(input: ClientEnvInput): Record<string, string> {
  const kind = clientKind(input);
  const user = clientUser(input);
  const database = input.database ?? (kind === 'postgres' ? user : undefined);
  const env: Record<string, string> = { MTLS_TUNNEL_ADDR: addressText(input.listen) };
  const { host, port, urlHost } = hostAndPort(input.listen);
  const userPart = user ? `${encodeURIComponent(user)}@` : '';
  const dbPart = database ? `/${encodeURIComponent(database)}` : '';
  switch (kind) {
    case 'postgres':
      env.PGHOST = host;
      if (port !== undefined) env.PGPORT = String(port);
      if (user) env.PGUSER = user;
      if (database) env.PGDATABASE = database;
      env.PGSSLMODE = 'disable';
      env.DATABASE_URL = `postgres://${userPart}${urlHost}${port !== undefined ? `:${port}` : ''}${dbPart}?sslmode=disable`;
      break;
    case 'mysql':
      if ('path' in input.listen) {
        // The mysql client reads its socket from MYSQL_UNIX_PORT; URLs name it as a parameter.
        env.MYSQL_UNIX_PORT = input.listen.path;
        env.DATABASE_URL = `mysql://${userPart}localhost${dbPart}?socket=${encodeURIComponent(input.listen.path)}`;
        break;
      }
      env.MYSQL_HOST = host;
      if (port !== undefined) env.MYSQL_TCP_PORT = String(port);
      env.DATABASE_URL = `mysql://${userPart}${urlHost}${port !== undefined ? `:${port}` : ''}${dbPart}`;
      break;
    case 'redis':
      if ('path' in input.listen) {
        env.REDIS_URL = `unix://${input.listen.path}${database ? `?db=${encodeURIComponent(database)}` : ''}`;
        break;
      }
      env.REDIS_URL = `redis://${userPart}${urlHost}${port !== undefined ? `:${port}` : ''}${database ? `/${encodeURIComponent(database)}` : ''}`;
      break;
    case 'http':
    case 'tcp':
      break;
  }
  return env;
}

/** A command line that reaches the tunnel (what Copy Client Command offers). */
export interface SocketClientCommand {
  tool: string;
  detail: string;
  command: string;
}

/** Single-quoted for a POSIX shell, unless it needs no quoting. */
function sh(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The client commands for a unix-socket listener, from the tunnel's client variables (`env` from
 * clientEnv): `psql -h DIR -p PORT` for a PostgreSQL socket, `mysql --socket`, `redis-cli -s`,
 * `curl --unix-socket`, `nc -U`; the likeliest first.
 */
export function socketClientCommands(config: Pick<TunnelConfig, 'protocol' | 'target' | 'name' | 'database'>, socketPath: string, env: Record<string, string>, user?: string): SocketClientCommand[] {
  const kind = clientKind(config);
  const p = sh(socketPath);
  const url = env.DATABASE_URL ? [{ tool: 'DATABASE_URL', detail: 'connection URL for apps and ORMs', command: `DATABASE_URL=${sh(env.DATABASE_URL)}` }] : [];
  switch (kind) {
    case 'postgres': {
      if (!env.PGPORT) {
        return [{ tool: 'psql', detail: 'PostgreSQL finds a socket only as DIR/.s.PGSQL.PORT: rename the socket in "listen"', command: `psql "host=${env.PGHOST}"` }];
      }
      const params = [`host=${env.PGHOST}`, `port=${env.PGPORT}`, env.PGUSER && `user=${env.PGUSER}`, env.PGDATABASE && `dbname=${env.PGDATABASE}`, 'sslmode=disable'].filter(Boolean).join(' ');
      return [{ tool: 'psql', detail: 'PostgreSQL shell over the unix socket', command: `psql ${sh(params)}` }, ...url];
    }
    case 'mysql':
      return [{ tool: 'mysql', detail: 'MySQL shell over the unix socket', command: ['mysql', `--socket=${p}`, ...(user ? ['-u', sh(user)] : []), '--ssl-mode=DISABLED', ...(config.database ? [sh(config.database)] : [])].join(' ') }, ...url];
    default: {
      const tools: Record<'curl' | 'redis-cli' | 'nc', SocketClientCommand> = {
        curl: { tool: 'curl', detail: 'HTTP service over the unix socket', command: `curl --unix-socket ${p} http://localhost/` },
        'redis-cli': { tool: 'redis-cli', detail: 'Redis over the unix socket', command: `redis-cli -s ${p}` },
        nc: { tool: 'nc', detail: 'any service: type a line, see the answer', command: `nc -U ${p}` },
      };
      const order: (keyof typeof tools)[] = kind === 'redis' ? ['redis-cli', 'nc', 'curl'] : kind === 'http' ? ['curl', 'nc', 'redis-cli'] : ['nc', 'curl', 'redis-cli'];
      return order.map((t) => tools[t]);
    }
  }
}

function addressText(a: LocalAddress): string {
  return 'path' in a ? a.path : formatEndpoint(a);
}

/**
 * Host and port as clients take them. A PostgreSQL socket `DIR/.s.PGSQL.5432` is host `DIR`,
 * port 5432 (libpq's convention); its URL host is the directory, percent-encoded. Both path
 * styles are understood, whatever the platform this runs on.
 */
function hostAndPort(a: LocalAddress): { host: string; port?: number; urlHost: string } {
  if (!('path' in a)) return { host: a.host, port: a.port, urlHost: a.host.includes(':') ? `[${a.host}]` : a.host };
  const style = /^[A-Za-z]:[\\/]|\\/.test(a.path) ? path.win32 : path.posix;
  const base = style.basename(a.path);
  const pg = /^\.s\.PGSQL\.(\d+)$/.exec(base);
  const host = pg ? style.dirname(a.path) : a.path;
  return { host, port: pg ? Number(pg[1]) : undefined, urlHost: encodeURIComponent(host) };
}

/**
 * The common name of the first certificate in a PEM file, or undefined when it cannot be read
 * (a PKCS#12 bundle needs its passphrase: the caller passes what it knows instead).
 */
export function readCertificateCommonName(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    const pem = readFileSync(file, 'utf8');
    const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
    if (!first) return undefined;
    return /^CN=(.+)$/m.exec(new X509Certificate(first).subject)?.[1];
  } catch {
    return undefined;
  }
}
