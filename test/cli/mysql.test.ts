/**
 * MySQL/MariaDB through a `mysql` tunnel, end to end with the stock client: the server demands
 * TLS (require_secure_transport) and an X.509 client certificate (REQUIRE X509); the client runs
 * plain (--skip-ssl) and the tunnel negotiates TLS inside the MySQL handshake. Queries, a large
 * result set and a LOAD DATA LOCAL payload, each checked byte for byte.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkTunnel, formatCheckReport } from '../../src/core/doctor';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { binary, clientEnv, requireBinary, run, RunningMariadb, startMariadb } from '../support/servers';
import { withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';

describe('mysql tunnel to MariaDB with REQUIRE X509', { skip: requireBinary('mariadbd', 'mariadb-install-db', 'mariadb') }, () => {
  const pki = withPki();
  let dir: string;
  let db: RunningMariadb;
  let tunnel: Tunnel;
  let port: number;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-mysql-'));
    db = await startMariadb({ pki: pki() });
    tunnel = new Tunnel(tunnelConfig(pki(), db.port, { name: 'maria', protocol: 'mysql' }));
    await tunnel.start();
    port = tunnel.address()!.port;
  }, { timeout: 120_000 });

  after(async () => {
    await tunnel?.stop();
    await db?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const mariadb = (sql: string, extra: string[] = []) =>
    run(binary('mariadb'), ['--no-defaults', '--skip-ssl', '-h', '127.0.0.1', '-P', String(port), '-u', 'alice',
      '--batch', '--skip-column-names', '--connect-timeout=10', ...extra, 'staging', '-e', sql], { env: clientEnv(), timeoutMs: 60_000 });

  it('a plain client reaches the server as alice over TLS', async () => {
    const r = await mariadb("select current_user(), variable_value from information_schema.session_status where variable_name = 'Ssl_version'");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.out.trim(), /^alice@%\tTLSv1\.[23]$/);
  });

  it('runs several statements on one connection and returns a large result set intact', async () => {
    const r = await mariadb('select 1; select sha2(group_concat(seq order by seq), 256) from seq_1_to_100000; select seq, repeat(char(65 + seq % 26), 200) from seq_1_to_20000');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.out.split('\n').filter(Boolean);
    assert.equal(lines[0], '1');
    const expected = createHash('sha256').update(Array.from({ length: 100000 }, (_, i) => i + 1).join(',')).digest('hex');
    assert.equal(lines[1], expected);
    const rows = lines.slice(2);
    assert.equal(rows.length, 20000);
    assert.equal(rows[19999], `20000\t${String.fromCharCode(65 + (20000 % 26)).repeat(200)}`);
  });

  it('carries a LOAD DATA LOCAL payload byte for byte', async () => {
    const lines = Array.from({ length: 40000 }, (_, i) => `${i}\t${randomBytes(48).toString('hex')}`);
    const file = path.join(dir, 'rows.tsv');
    await writeFile(file, lines.join('\n') + '\n');
    const r = await mariadb(
      'set session group_concat_max_len = 67108864; ' +
      `create table loaded (id int primary key, v varchar(200)); load data local infile '${file}' into table loaded; ` +
      "select count(*), sha2(group_concat(concat(id, '\\t', v) order by id separator '\\n'), 256) from loaded",
      ['--local-infile=1', '--max-allowed-packet=64M'],
    );
    assert.equal(r.code, 0, r.stderr);
    const [count, digest] = r.out.trim().split('\t');
    assert.equal(Number(count), 40000);
    assert.equal(digest, createHash('sha256').update(lines.join('\n')).digest('hex'));
  });

  it('the handshake doctor negotiates TLS inside the MySQL handshake', async () => {
    const report = await checkTunnel(tunnel.config);
    // MariaDB enforces REQUIRE X509 at login, not in the TLS handshake: the doctor says so.
    assert.equal(report.verdict, 'warning', JSON.stringify(report.diagnoses));
    assert.deepEqual(report.diagnoses.map((d) => d.code), ['CLIENT_CERT_NOT_REQUESTED']);
    assert.match(report.diagnoses[0].fix, /REQUIRE X509/);
    assert.match(formatCheckReport(report), /TLS 1\.[23], TLS_/);
  });
});
