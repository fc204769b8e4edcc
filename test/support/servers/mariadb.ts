/**
 * A real MariaDB server that takes TCP clients only over TLS (`require_secure_transport=ON`) and
 * has a user created `REQUIRE X509`: it must present a certificate chaining to the test root.
 * MySQL's protocol negotiates TLS inside its handshake, which is why a later feature needs it.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { binary } from './binaries';
import { Daemon, runOk, waitUntilReady } from './daemon';
import { unusedPort } from '../ports';
import { once, removeDir, RunningServer, ServerOptions, startIn } from './server';

export interface MariadbOptions extends ServerOptions {
  /** User created `REQUIRE X509`, from any host. Default `alice`. */
  user?: string;
  /** Database the user has every privilege on. Default `staging`. */
  database?: string;
}

export interface RunningMariadb extends RunningServer {
  dataDir: string;
  /** Unix socket where `root` connects (socket auth; the socket counts as secure transport). */
  socket: string;
  user: string;
  database: string;
  /** Runs SQL as root over the unix socket; returns the client's batch (tab-separated) output. */
  sql(query: string): Promise<string>;
}

export function startMariadb(options: MariadbOptions): Promise<RunningMariadb> {
  const user = options.user ?? 'alice';
  const database = options.database ?? 'staging';
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  return startIn('mariadb', async (dir, onFailure) => {
    const dataDir = path.join(dir, 'data');
    const socket = path.join(dir, 'mysqld.sock');
    const errorLog = path.join(dir, 'error.log');
    // Tests run as root; --user=root keeps every file in the temp folder ours to remove.
    await runOk(binary('mariadb-install-db'), [
      '--no-defaults', `--datadir=${dataDir}`, '--user=root', '--auth-root-authentication-method=socket', '--skip-test-db',
    ], { cwd: dir, timeoutMs });

    const port = options.port ?? (await unusedPort());
    const daemon = new Daemon('mariadbd', binary('mariadbd'), [
      '--no-defaults',
      '--user=root',
      `--datadir=${dataDir}`,
      `--socket=${socket}`,
      `--pid-file=${path.join(dir, 'mysqld.pid')}`,
      `--log-error=${errorLog}`,
      '--bind-address=127.0.0.1',
      `--port=${port}`,
      `--ssl-cert=${options.pki.server.cert}`,
      `--ssl-key=${options.pki.server.key}`,
      `--ssl-ca=${options.pki.ca}`,
      '--require-secure-transport=ON',
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=16M',
      '--innodb-flush-log-at-trx-commit=0',
    ], { cwd: dir });
    onFailure(() => daemon.stop('SIGKILL'));
    const log = async () => daemon.log + (await readFile(errorLog, 'utf8').catch(() => ''));

    const sql = async (query: string) =>
      (await runOk(binary('mariadb'), ['--no-defaults', `--socket=${socket}`, '-u', 'root', '--batch', '--skip-column-names', '-e', query], {
        cwd: dir, timeoutMs: 15_000,
      })).out;
    await waitUntilReady(daemon, async () => (await sql('select 1')).trim() === '1', { timeoutMs, describeFailure: log });

    await sql([
      `CREATE USER '${user}'@'%' REQUIRE X509`,
      `CREATE DATABASE \`${database}\``,
      `GRANT ALL PRIVILEGES ON \`${database}\`.* TO '${user}'@'%'`,
    ].join('; '));

    return {
      host: '127.0.0.1' as const,
      port,
      dir,
      dataDir,
      socket,
      user,
      database,
      sql,
      log,
      stop: once(async () => {
        await daemon.stop('SIGTERM', 15_000);
        await removeDir(dir);
      }),
    };
  });
}
