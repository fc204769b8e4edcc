/**
 * Warm connections (`warmConnections`) against real servers. PostgreSQL: a connection made
 * (SSLRequest, TLS) before psql came serves psql, whose StartupMessage is the first thing of its
 * own the server hears; and when the server drops idle connections itself (authentication_timeout
 * lowered to 1 s) a dropped one is never handed out: psql still gets in. Redis: redis-cli served
 * by a warm connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConnectionSnapshot } from '../../src/core/tunnel/connection';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { withPki } from '../support/pkiFixture';
import {
  binary, clientEnv, requireBinary, run, RunningPostgres, RunningRedis, startPostgres, startRedis,
} from '../support/servers';
import { tunnelConfig } from '../support/tunnels';
import { startTunnel, tunnelPort, until } from '../support/tunnelKit';

const pki = withPki();
const START = { timeout: 120_000 };
const TEST = { timeout: 60_000 };

/** Every connection the tunnel opens from now on, as its snapshot at the handshake. */
function openedConnections(tunnel: Tunnel): ConnectionSnapshot[] {
  const seen: ConnectionSnapshot[] = [];
  tunnel.on('connectionOpened', (s) => seen.push(s));
  return seen;
}

describe('warm connections to PostgreSQL', { skip: requireBinary('initdb', 'postgres', 'psql') }, () => {
  let pg: RunningPostgres | undefined;
  before(async () => {
    pg = await startPostgres({ pki: pki() });
  }, START);
  after(() => pg?.stop());

  const psql = (port: number, query: string) =>
    run(binary('psql'), ['-X', '-At', `host=127.0.0.1 port=${port} dbname=staging user=alice sslmode=disable connect_timeout=10`, '-c', query], { env: clientEnv(), timeoutMs: 20_000 });

  it('psql is served by a backend that started before psql did', TEST, async (t) => {
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg!.port, { name: 'pg-warm', protocol: 'postgres', warmConnections: 1 }));
    await until(() => tunnel.counts().warm?.ready === 1, 10_000, 'a warm connection');
    const opened = openedConnections(tunnel);
    const launched = Date.now();
    const result = await psql(tunnelPort(tunnel), 'select current_user, ssl, (extract(epoch from backend_start) * 1000)::bigint from pg_stat_activity join pg_stat_ssl using (pid) where pid = pg_backend_pid()');
    assert.equal(result.code, 0, result.stderr);
    const [user, ssl, backendStart] = result.out.trim().split('|');
    assert.deepEqual([user, ssl], ['alice', 't']);
    assert.ok(Number(backendStart) <= launched, `the backend (started ${backendStart}) was there before psql (launched ${launched})`);
    assert.equal(opened[0]?.handshake?.warm, true);
  });

  it('a backend the server dropped while it waited (authentication_timeout) is not handed out: psql still gets in', TEST, async (t) => {
    await pg!.sql("alter system set authentication_timeout = '1s'");
    await pg!.sql('select pg_reload_conf()');
    t.after(async () => {
      await pg!.sql('alter system reset authentication_timeout');
      await pg!.sql('select pg_reload_conf()');
    });
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg!.port, { name: 'pg-drops', protocol: 'postgres', warmConnections: 1, warmMaxAgeMs: 30_000 }), {
      warmPool: { backoff: { firstMs: 60_000, maxMs: 60_000 } },
    });
    await until(() => (tunnel.counts().warm?.lost ?? 0) >= 1, 15_000, 'the server to drop the idle warm connection');
    assert.equal(tunnel.counts().warm?.ready, 0);
    const opened = openedConnections(tunnel);
    const result = await psql(tunnelPort(tunnel), 'select current_user');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.out.trim(), 'alice');
    assert.notEqual(opened[0]?.handshake?.warm, true, 'dialled for psql');
  });
});

describe('warm connections to Redis', { skip: requireBinary('redis-server', 'redis-cli') }, () => {
  let redis: RunningRedis | undefined;
  before(async () => {
    redis = await startRedis({ pki: pki() });
  }, START);
  after(() => redis?.stop());

  it('redis-cli is served by a warm connection', TEST, async (t) => {
    const tunnel = await startTunnel(t, tunnelConfig(pki(), redis!.port, { name: 'redis-warm', warmConnections: 2 }));
    await until(() => tunnel.counts().warm?.ready === 2, 10_000, 'two warm connections');
    const opened = openedConnections(tunnel);
    const result = await run(binary('redis-cli'), ['-h', '127.0.0.1', '-p', String(tunnelPort(tunnel)), 'PING'], { env: clientEnv(), timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.out.trim(), 'PONG');
    assert.equal(opened[0]?.handshake?.warm, true);
  });
});
