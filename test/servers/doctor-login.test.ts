/**
 * The doctor goes all the way to the login, against the real servers: PostgreSQL answers a
 * StartupMessage as the certificate's user (AuthenticationOk, or its FATAL quoted), and its
 * certificate verdict comes from pg_hba, not from the CertificateRequest; MariaDB greets and
 * takes TLS with the certificate; Redis answers PING; nginx the status line of HEAD /.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkTunnel, formatCheckReport } from '../../src/core/doctor';
import { withPki } from '../support/pkiFixture';
import {
  requireBinary, RunningMariadb, RunningNginx, RunningPostgres, RunningRedis,
  startMariadb, startNginx, startPostgres, startRedis,
} from '../support/servers';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();
const START = { timeout: 120_000 };
const TEST = { timeout: 30_000 };

describe('the login check against PostgreSQL (hostssl … cert clientcert=verify-full)', { skip: requireBinary('initdb', 'postgres', 'psql') }, () => {
  let pg: RunningPostgres | undefined;
  before(async () => {
    pg = await startPostgres({ pki: pki() });
  }, START);
  after(() => pg?.stop());
  const check = (overrides: Record<string, unknown> = {}) =>
    checkTunnel(tunnelConfig(pki(), pg!.port, { name: 'staging-db', protocol: 'postgres', database: 'staging', ...overrides }));

  it('a healthy tunnel: AuthenticationOk as the certificate\'s user, and the certificate is required at login, not a warning', TEST, async () => {
    const report = await check();
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
    assert.deepEqual(report.diagnoses, []);
    assert.equal(report.login?.asked, 'PostgreSQL StartupMessage as "alice" for database "staging"');
    assert.equal(report.login?.answer, 'AuthenticationOk');
    assert.equal(report.login?.outcome, 'accepted');
    assert.equal(report.clientCertificateRequired, true);
    assert.equal(report.clientCertificateCheckedAt, 'login');
    assert.match(report.loginWithoutCertificate ?? '', /^FATAL: connection requires a valid client certificate$/);
    const text = formatCheckReport(report);
    assert.match(text, /\n {2}Client certificate: required by server \(at login: without one the server answered "FATAL: connection requires a valid client certificate"\)\n/);
    assert.match(text, /\n {2}Login {7}PostgreSQL StartupMessage as "alice" for database "staging": AuthenticationOk\n/);
    assert.doesNotMatch(text, /NOT required/);
    assert.match(await pg!.log(), /connection authorized: user=alice database=staging/);
  });

  it('without "database" the login asks for the user\'s own database, which PostgreSQL says does not exist: LOGIN_DATABASE_MISSING', TEST, async () => {
    const report = await check({ database: undefined });
    assert.equal(report.verdict, 'failed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'LOGIN_DATABASE_MISSING');
    assert.equal(d.summary, 'Tunnel "staging-db": PostgreSQL let "alice" in, but the database "alice" does not exist (it said "FATAL: database "alice" does not exist").');
    assert.match(d.fix, /^Set "database" to a database that exists/);
  });

  it('"user" other than the certificate\'s CN: LOGIN_REFUSED quoting "certificate authentication failed"', TEST, async () => {
    const report = await check({ user: 'bob' });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'LOGIN_REFUSED');
    assert.equal(d.summary, 'Tunnel "staging-db": TLS works, but PostgreSQL refused the login as "bob" for database "staging": "FATAL: certificate authentication failed for user "bob"".');
    assert.match(d.fix, /the certificate's CN \(alice\) must be the database user: set "user" to it, or ask the operators to map it to "bob" in pg_ident\.conf/);
    assert.equal(report.clientCertificateRequired, true, 'the login without a certificate is refused as well');
  });

  it('no pg_hba.conf entry for the database: LOGIN_REFUSED quoting it, fix naming user and database', TEST, async () => {
    await writeFile(path.join(pg!.dataDir, 'pg_hba.conf'), 'local all postgres trust\nhostssl staging alice 127.0.0.1/32 cert clientcert=verify-full\n');
    await pg!.sql('select pg_reload_conf()');
    try {
      const report = await check({ database: 'postgres' });
      const [d] = report.diagnoses;
      assert.equal(d.code, 'LOGIN_REFUSED');
      assert.match(d.summary, /refused the login as "alice" for database "postgres": "FATAL: no pg_hba\.conf entry for host "127\.0\.0\.1", user "alice", database "postgres", SSL encryption"\.$/);
      assert.match(d.fix, /a pg_hba\.conf line that admits "alice" to "postgres" over TLS/);
    } finally {
      await writeFile(path.join(pg!.dataDir, 'pg_hba.conf'), 'local all postgres trust\nhostssl all all 127.0.0.1/32 cert clientcert=verify-full\n');
      await pg!.sql('select pg_reload_conf()');
    }
  });
});

describe('the login check against MariaDB (REQUIRE X509)', { skip: requireBinary('mariadbd', 'mariadb-install-db', 'mariadb') }, () => {
  let db: RunningMariadb | undefined;
  before(async () => {
    db = await startMariadb({ pki: pki() });
  }, START);
  after(() => db?.stop());

  it('quotes the greeting, says TLS with the certificate was accepted and that the login needs the password', TEST, async () => {
    const report = await checkTunnel(tunnelConfig(pki(), db!.port, { name: 'orders', protocol: 'mysql' }));
    assert.notEqual(report.verdict, 'failed', JSON.stringify(report.diagnoses));
    assert.equal(report.login?.asked, 'MySQL greeting and TLS');
    assert.match(report.login!.answer, /^server 10\.[\d.]+-MariaDB\S*; TLS with the client certificate accepted \(the login itself needs the user's password, and was not tried\)$/);
    assert.match(formatCheckReport(report), /\n {2}Login {7}MySQL greeting and TLS: server [\d.]+-MariaDB/);
  });
});

describe('the login check against Redis and nginx', { skip: requireBinary('redis-server', 'nginx') }, () => {
  let redis: RunningRedis | undefined;
  let nginx: RunningNginx | undefined;
  before(async () => {
    [redis, nginx] = await Promise.all([startRedis({ pki: pki() }), startNginx({ pki: pki(), largeFileBytes: 1024 })]);
  }, START);
  after(async () => {
    await redis?.stop();
    await nginx?.stop();
  });

  it('Redis: PING is answered +PONG', TEST, async () => {
    const report = await checkTunnel(tunnelConfig(pki(), redis!.port, { name: 'redis-cache' }));
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
    assert.deepEqual(report.login && { asked: report.login.asked, answer: report.login.answer, outcome: report.login.outcome }, { asked: 'Redis PING', answer: '+PONG', outcome: 'accepted' });
  });

  it('nginx: HEAD / is answered with its status line, and the certificate is required at the HTTP level', TEST, async () => {
    const report = await checkTunnel(tunnelConfig(pki(), nginx!.port, { name: 'web' }));
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
    assert.equal(report.login?.asked, 'HEAD /');
    assert.equal(report.login?.answer, 'HTTP/1.1 200 OK');
    assert.equal(report.clientCertificateRequired, true, 'nginx lets the handshake through but answers 400 without a certificate');
    assert.equal(report.clientCertificateCheckedAt, 'login');
    assert.equal(report.loginWithoutCertificate, 'HTTP/1.1 400 Bad Request');
  });
});
