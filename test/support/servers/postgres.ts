/**
 * A real PostgreSQL server that accepts only TLS connections with a client certificate:
 * pg_hba.conf has a single TCP line, `hostssl … cert clientcert=verify-full`, so the certificate's
 * CN must equal the database user. PostgreSQL refuses to run as root, so initdb and postgres run
 * as the `postgres` system user in a folder it owns.
 */
import { chmod, chown, copyFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { binary } from './binaries';
import { Daemon, runOk, systemUser, waitUntilReady } from './daemon';
import { unusedPort } from '../ports';
import { once, removeDir, RunningServer, ServerOptions, startIn } from './server';

export interface PostgresOptions extends ServerOptions {
  /** Database role to create; must equal the client certificate's CN. Default `alice`. */
  user?: string;
  /** Database owned by `user`. Default `staging`. */
  database?: string;
}

export interface RunningPostgres extends RunningServer {
  dataDir: string;
  /** Folder of the unix socket, where the `postgres` superuser connects with trust auth. */
  socketDir: string;
  user: string;
  database: string;
  /** Absolute path of the psql matching the server. */
  psql: string;
  /** Runs SQL as the superuser over the unix socket; returns psql's unaligned output. */
  sql(query: string, database?: string): Promise<string>;
}

/** Copies a PKI file into the data dir, mode 0600, owned by postgres (it refuses group-readable keys). */
async function install(file: string, dataDir: string, name: string, owner: { uid: number; gid: number }) {
  const target = path.join(dataDir, name);
  await copyFile(file, target);
  await chown(target, owner.uid, owner.gid);
  await chmod(target, 0o600);
}

export function startPostgres(options: PostgresOptions): Promise<RunningPostgres> {
  const user = options.user ?? 'alice';
  const database = options.database ?? 'staging';
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  return startIn('postgres', async (dir, onFailure) => {
    const owner = systemUser('postgres');
    const env = { PATH: process.env.PATH, HOME: dir, LC_ALL: 'C', LANG: 'C' };
    const psql = binary('psql');
    await chown(dir, owner.uid, owner.gid);
    await chmod(dir, 0o700);
    const dataDir = path.join(dir, 'data');
    const socketDir = dir;

    await runOk(binary('initdb'), ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=reject', '--no-sync', '-E', 'UTF8', '--locale=C'], {
      user: owner, env, cwd: dir, timeoutMs,
    });
    await install(options.pki.server.cert, dataDir, 'server.crt', owner);
    await install(options.pki.server.key, dataDir, 'server.key', owner);
    await install(options.pki.ca, dataDir, 'root.crt', owner);
    // The superuser gets in over the unix socket only; over TCP nothing but TLS with a certificate.
    await writeFile(path.join(dataDir, 'pg_hba.conf'), [
      'local all postgres trust',
      'hostssl all all 127.0.0.1/32 cert clientcert=verify-full',
      '',
    ].join('\n'));

    const port = options.port ?? (await unusedPort());
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: socketDir,
      ssl: 'on',
      ssl_cert_file: 'server.crt',
      ssl_key_file: 'server.key',
      ssl_ca_file: 'root.crt',
      fsync: 'off',
      log_connections: 'on',
    };
    const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const daemon = new Daemon('postgres', binary('postgres'), args, { user: owner, env, cwd: dir });
    onFailure(() => daemon.stop('SIGQUIT', 5_000));

    const sql = async (query: string, db = 'postgres') =>
      (await runOk(psql, ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', db, '-c', query], {
        user: owner, env, cwd: dir, timeoutMs: 15_000,
      })).out;
    await waitUntilReady(daemon, async () => (await sql('select 1')).trim() === '1', { timeoutMs });

    await sql(`CREATE ROLE "${user}" LOGIN`);
    await sql(`CREATE DATABASE "${database}" OWNER "${user}"`);

    return {
      host: '127.0.0.1' as const,
      port,
      dir,
      dataDir,
      socketDir,
      user,
      database,
      psql,
      sql,
      log: async () => daemon.log,
      // SIGINT is PostgreSQL's fast shutdown: disconnect clients, stop cleanly.
      stop: once(async () => {
        await daemon.stop('SIGINT', 10_000);
        await removeDir(dir);
      }),
    };
  });
}
