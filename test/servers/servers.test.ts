/**
 * The real test servers really demand mutual TLS: each lets `alice` in with her certificate and
 * turns away a client with no certificate and one whose certificate comes from a CA it does not
 * trust. The tunnel tests lean on this; if a server quietly accepted anyone, they would prove nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { withPki } from '../support/pkiFixture';
import {
  binary, clientEnv, requireBinary, run,
  RunningMariadb, RunningNginx, RunningPostgres, RunningRedis,
  startMariadb, startNginx, startPostgres, startRedis,
} from '../support/servers';

const pki = withPki();
const START = { timeout: 120_000 };
const CLIENT = { timeout: 30_000 };
const output = (r: { out: string; stderr: string }) => r.out + r.stderr;

describe('PostgreSQL with pg_hba `hostssl … cert`', { skip: requireBinary('initdb', 'postgres', 'psql') }, () => {
  let pg: RunningPostgres | undefined;
  before(async () => {
    pg = await startPostgres({ pki: pki() });
  }, START);
  after(() => pg?.stop());

  const psql = (params: string) => {
    const conninfo = `host=127.0.0.1 port=${pg!.port} dbname=staging user=alice connect_timeout=10 ${params}`;
    const query = 'select current_user, ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()';
    return run(binary('psql'), ['-X', '-At', conninfo, '-c', query], { env: clientEnv(), timeoutMs: 20_000 });
  };
  const verified = (p: { cert?: string; key?: string }) =>
    `sslmode=verify-full sslrootcert=${pki().ca}` + (p.cert ? ` sslcert=${p.cert} sslkey=${p.key}` : '');

  it('lets alice in over TLS, identified by her certificate', CLIENT, async () => {
    const result = await psql(verified(pki().client));
    assert.equal(result.code, 0, output(result));
    assert.match(result.out.trim(), /^alice\|t\|\/CN=alice(\/|$)/);
  });

  it('rejects a TLS connection without a client certificate', CLIENT, async () => {
    const result = await psql(verified({}));
    assert.equal(result.code, 2, output(result));
    assert.match(result.stderr, /connection requires a valid client certificate/);
  });

  it('rejects a client certificate from an untrusted CA', CLIENT, async () => {
    const result = await psql(verified(pki().rogueClient));
    assert.equal(result.code, 2, output(result));
    // Usually the `unknown ca` alert; under TLS 1.3 a reset can overtake it (see MariaDB below).
    assert.match(result.stderr, /alert unknown ca|Connection reset by peer|server closed the connection unexpectedly/);
    assert.match(await pg!.log(), /could not accept SSL connection: certificate verify failed/);
  });

  it('rejects plaintext connections', CLIENT, async () => {
    const result = await psql('sslmode=disable');
    assert.equal(result.code, 2, output(result));
    assert.match(result.stderr, /no pg_hba\.conf entry .* no encryption/);
  });
});

describe('Redis with --tls-auth-clients yes', { skip: requireBinary('redis-server', 'redis-cli') }, () => {
  let redis: RunningRedis | undefined;
  before(async () => {
    redis = await startRedis({ pki: pki() });
  }, START);
  after(() => redis?.stop());

  const ping = (identity?: { cert: string; key: string }) => {
    const tls = ['--tls', '--sni', 'localhost', '--cacert', pki().ca];
    if (identity) tls.push('--cert', identity.cert, '--key', identity.key);
    return run(binary('redis-cli'), [...tls, '-h', '127.0.0.1', '-p', String(redis!.port), 'PING'], { env: clientEnv(), timeoutMs: 20_000 });
  };

  it('answers PING from alice', CLIENT, async () => {
    const result = await ping(pki().client);
    assert.equal(result.code, 0, output(result));
    assert.equal(result.out.trim(), 'PONG');
  });

  it('closes a connection without a client certificate', CLIENT, async () => {
    const result = await ping();
    assert.equal(result.code, 1, output(result));
    assert.match(output(result), /Server closed the connection|Connection reset by peer/);
    assert.doesNotMatch(result.out, /PONG/);
    assert.match(await redis!.log(), /peer did not return a certificate/);
  });

  it('closes a connection with a client certificate from an untrusted CA', CLIENT, async () => {
    const result = await ping(pki().rogueClient);
    assert.equal(result.code, 1, output(result));
    assert.match(output(result), /Server closed the connection|Connection reset by peer/);
    assert.doesNotMatch(result.out, /PONG/);
    assert.match(await redis!.log(), /certificate verify failed/);
  });
});

describe('nginx with ssl_verify_client on', { skip: requireBinary('nginx', 'curl') }, () => {
  let nginx: RunningNginx | undefined;
  before(async () => {
    nginx = await startNginx({ pki: pki() });
  }, START);
  after(() => nginx?.stop());

  const get = (urlPath: string, identity?: { cert: string; key: string }) => {
    const args = ['-sS', '--max-time', '15', '--resolve', `localhost:${nginx!.port}:127.0.0.1`, '--cacert', pki().ca];
    if (identity) args.push('--cert', identity.cert, '--key', identity.key);
    return run(binary('curl'), [...args, '-w', '\n%{http_code}', nginx!.origin + urlPath], { env: clientEnv(), timeoutMs: 20_000 });
  };
  const status = (out: string) => out.slice(out.lastIndexOf('\n') + 1);

  it('tells alice who she is', CLIENT, async () => {
    const result = await get('/', pki().client);
    assert.equal(result.code, 0, output(result));
    assert.equal(status(result.out), '200');
    assert.match(result.out, /^client=.*CN=alice.* verify=SUCCESS$/m);
  });

  it('serves the large file byte for byte', CLIENT, async () => {
    const args = ['-sS', '--fail', '--max-time', '15', '--resolve', `localhost:${nginx!.port}:127.0.0.1`, '--cacert', pki().ca];
    const client = pki().client;
    const url = nginx!.origin + nginx!.largeFile.urlPath;
    const result = await run(binary('curl'), [...args, '--cert', client.cert, '--key', client.key, url], { env: clientEnv(), timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.length, nginx!.largeFile.size);
    assert.equal(createHash('sha256').update(result.stdout).digest('hex'), nginx!.largeFile.sha256);
  });

  it('refuses a request without a client certificate', CLIENT, async () => {
    const result = await get('/');
    assert.equal(status(result.out), '400', output(result));
    assert.match(result.out, /No required SSL certificate was sent/);
    assert.doesNotMatch(result.out, /CN=alice/);
  });

  it('refuses a client certificate from an untrusted CA', CLIENT, async () => {
    const result = await get('/', pki().rogueClient);
    assert.equal(status(result.out), '400', output(result));
    assert.match(result.out, /The SSL certificate error/);
    assert.doesNotMatch(result.out, /CN=alice/);
  });
});

describe('MariaDB with require_secure_transport and REQUIRE X509', { skip: requireBinary('mariadbd', 'mariadb-install-db', 'mariadb') }, () => {
  let db: RunningMariadb | undefined;
  before(async () => {
    db = await startMariadb({ pki: pki() });
  }, START);
  after(() => db?.stop());

  const connect = (tls: string[]) => {
    const query = "select current_user(), (select variable_value from information_schema.session_status where variable_name = 'Ssl_version')";
    const args = ['--no-defaults', '-h', '127.0.0.1', '-P', String(db!.port), '-u', 'alice', '--connect-timeout=10', '--batch', '--skip-column-names'];
    return run(binary('mariadb'), [...args, ...tls, 'staging', '-e', query], { env: clientEnv(), timeoutMs: 20_000 });
  };
  const verified = (p: { cert?: string; key?: string }) =>
    [`--ssl-ca=${pki().ca}`, '--ssl-verify-server-cert', ...(p.cert ? [`--ssl-cert=${p.cert}`, `--ssl-key=${p.key}`] : [])];

  it('runs with require_secure_transport on', CLIENT, async () => {
    assert.equal((await db!.sql('select @@require_secure_transport')).trim(), '1');
  });

  it('lets alice in over TLS with her certificate', CLIENT, async () => {
    const result = await connect(verified(pki().client));
    assert.equal(result.code, 0, output(result));
    assert.match(result.out.trim(), /^alice@%\tTLSv1\.[23]$/);
  });

  it('denies alice over TLS without a client certificate', CLIENT, async () => {
    const result = await connect(verified({}));
    assert.equal(result.code, 1, output(result));
    assert.match(result.stderr, /ERROR 1045 .*Access denied for user 'alice'/);
  });

  it('drops a client certificate from an untrusted CA', CLIENT, async () => {
    const result = await connect(verified(pki().rogueClient));
    assert.equal(result.code, 1, output(result));
    // TLS 1.3: the server judges our certificate after the client's handshake is done, so the
    // client sees either the `unknown ca` alert or only the reset that follows it.
    assert.match(result.stderr, /ERROR 2026 .*alert unknown ca|ERROR 2013 .*Lost connection/);
  });

  it('denies plaintext connections', CLIENT, async () => {
    const result = await connect(['--skip-ssl']);
    assert.equal(result.code, 1, output(result));
    assert.match(result.stderr, /ERROR 1045 .*Access denied for user 'alice'/);
  });
});
