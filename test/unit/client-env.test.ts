/**
 * The variables a local client gets for a tunnel (Open Terminal now, `mtls-tunnels exec` later):
 * per protocol, the certificate's CN as the default user, the settings' user and database winning,
 * and socket paths of both styles.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clientEnv, clientKind } from '../../src/core/clientEnv';

const tcp = { host: '127.0.0.1', port: 15432 };

describe('clientEnv', () => {
  test('postgres: libpq variables, the CN as user and database, TLS off on the local leg', () => {
    assert.deepEqual(clientEnv({ name: 'db', protocol: 'postgres', target: { host: 'db', port: 5432 }, listen: tcp, certificateCommonName: 'alice' }), {
      MTLS_TUNNEL_ADDR: '127.0.0.1:15432',
      PGHOST: '127.0.0.1', PGPORT: '15432', PGUSER: 'alice', PGDATABASE: 'alice', PGSSLMODE: 'disable',
      DATABASE_URL: 'postgres://alice@127.0.0.1:15432/alice?sslmode=disable',
    });
  });

  test('the settings\' user and database win over the CN, and are URL-encoded in DATABASE_URL', () => {
    const env = clientEnv({ name: 'db', protocol: 'postgres-direct', target: { host: 'db', port: 5432 }, listen: tcp, user: 'app@corp', database: 'sales db', certificateCommonName: 'alice' });
    assert.equal(env.PGUSER, 'app@corp');
    assert.equal(env.PGDATABASE, 'sales db');
    assert.equal(env.DATABASE_URL, 'postgres://app%40corp@127.0.0.1:15432/sales%20db?sslmode=disable');
  });

  test('no user when none is known: libpq falls back to its own default instead of a wrong one', () => {
    const env = clientEnv({ name: 'db', protocol: 'postgres', target: { host: 'db', port: 5432 }, listen: tcp });
    assert.equal(env.PGUSER, undefined);
    assert.equal(env.PGDATABASE, undefined);
    assert.equal(env.DATABASE_URL, 'postgres://127.0.0.1:15432?sslmode=disable');
  });

  test('a CN that is no user name (spaces) is not used as one', () => {
    assert.equal(clientEnv({ name: 'db', protocol: 'postgres', target: { host: 'db', port: 5432 }, listen: tcp, certificateCommonName: 'Alice Example' }).PGUSER, undefined);
  });

  test('mysql: MYSQL_HOST and MYSQL_TCP_PORT, DATABASE_URL with the database only when set', () => {
    assert.deepEqual(clientEnv({ name: 'my', protocol: 'mysql', target: { host: 'db', port: 3306 }, listen: { host: '127.0.0.1', port: 13306 }, certificateCommonName: 'bob' }), {
      MTLS_TUNNEL_ADDR: '127.0.0.1:13306', MYSQL_HOST: '127.0.0.1', MYSQL_TCP_PORT: '13306', DATABASE_URL: 'mysql://bob@127.0.0.1:13306',
    });
  });

  test('redis by its target port; IPv6 listeners in brackets', () => {
    assert.deepEqual(clientEnv({ name: 'cache', protocol: 'tls', target: { host: 'r', port: 6379 }, listen: { host: '::1', port: 16379 } }), {
      MTLS_TUNNEL_ADDR: '[::1]:16379', REDIS_URL: 'redis://[::1]:16379',
    });
  });

  test('a plain TCP service gets only its address', () => {
    assert.deepEqual(clientEnv({ name: 'echo', protocol: 'tls', target: { host: 'x', port: 7443 }, listen: { host: '127.0.0.1', port: 7000 } }), { MTLS_TUNNEL_ADDR: '127.0.0.1:7000' });
  });

  test('a PostgreSQL socket, POSIX and Windows style: the directory is the host, the suffix the port', () => {
    const posix = clientEnv({ name: 'db', protocol: 'postgres', target: { host: 'db', port: 5432 }, listen: { path: '/run/user/1000/pg/.s.PGSQL.5432' }, user: 'alice' });
    assert.equal(posix.PGHOST, '/run/user/1000/pg');
    assert.equal(posix.PGPORT, '5432');
    assert.equal(posix.MTLS_TUNNEL_ADDR, '/run/user/1000/pg/.s.PGSQL.5432');
    assert.equal(posix.DATABASE_URL, 'postgres://alice@%2Frun%2Fuser%2F1000%2Fpg:5432/alice?sslmode=disable');
    const win = clientEnv({ name: 'db', protocol: 'postgres', target: { host: 'db', port: 5432 }, listen: { path: 'C:\\Users\\Alice\\AppData\\Local\\pg\\.s.PGSQL.6543' }, user: 'alice' });
    assert.equal(win.PGHOST, 'C:\\Users\\Alice\\AppData\\Local\\pg');
    assert.equal(win.PGPORT, '6543');
    assert.equal(win.MTLS_TUNNEL_ADDR, 'C:\\Users\\Alice\\AppData\\Local\\pg\\.s.PGSQL.6543');
  });
});

describe('clientKind', () => {
  test('protocol first, then the target port, then the name', () => {
    assert.equal(clientKind({ name: 'x', protocol: 'postgres', target: { host: 'h', port: 1 } }), 'postgres');
    assert.equal(clientKind({ name: 'x', protocol: 'mysql', target: { host: 'h', port: 1 } }), 'mysql');
    assert.equal(clientKind({ name: 'x', protocol: 'tls', target: { host: 'h', port: 6380 } }), 'redis');
    assert.equal(clientKind({ name: 'staging-api', protocol: 'tls', target: { host: 'h', port: 9443 } }), 'http');
    assert.equal(clientKind({ name: 'x', protocol: 'tls', target: { host: 'h', port: 8443 } }), 'http');
    assert.equal(clientKind({ name: 'demo-echo', protocol: 'tls', target: { host: 'h', port: 41234 } }), 'tcp');
  });
});
