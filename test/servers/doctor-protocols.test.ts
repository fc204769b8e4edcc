/**
 * The wrong `protocol`, against the real servers: the doctor asks the port what it is and names
 * the right value, or says it is the server's plaintext port. A `tls` tunnel at PostgreSQL (which
 * resets the handshake) or at MariaDB (which greets in plaintext); a `postgres` or `mysql` tunnel
 * at a port that speaks TLS from the first byte (nginx) or at the other database; `tls` at Redis's
 * and HTTP's plaintext ports.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { checkTunnel } from '../../src/core/doctor';
import { withPki } from '../support/pkiFixture';
import { unusedPort } from '../support/ports';
import {
  binary, requireBinary, RunningMariadb, RunningNginx, RunningPostgres,
  startMariadb, startNginx, startPostgres,
} from '../support/servers';
import { Daemon, waitUntilReady } from '../support/servers/daemon';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();
const START = { timeout: 180_000 };
const TEST = { timeout: 30_000 };
const skip = requireBinary('initdb', 'postgres', 'mariadbd', 'mariadb-install-db', 'mariadb', 'nginx', 'redis-server');

describe('naming the right protocol', { skip }, () => {
  let pg: RunningPostgres | undefined;
  let maria: RunningMariadb | undefined;
  let nginx: RunningNginx | undefined;
  let redis: Daemon | undefined;
  let redisPort = 0;
  let web: http.Server | undefined;
  let webPort = 0;
  before(async () => {
    redisPort = await unusedPort();
    redis = new Daemon('redis-plain', binary('redis-server'), ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    web = http.createServer((_req, res) => res.end('hello\n'));
    await new Promise<void>((resolve) => web!.listen(0, '127.0.0.1', resolve));
    webPort = (web.address() as net.AddressInfo).port;
    [pg, maria, nginx] = await Promise.all([startPostgres({ pki: pki() }), startMariadb({ pki: pki() }), startNginx({ pki: pki(), largeFileBytes: 1024 })]);
    await waitUntilReady(redis, () => pong(redisPort), { timeoutMs: 15_000 });
  }, START);
  after(async () => {
    web?.close();
    await Promise.all([pg?.stop(), maria?.stop(), nginx?.stop(), redis?.stop('SIGTERM', 5_000)]);
  });

  const check = (port: number, protocol: string, name = 'inventory') => checkTunnel(tunnelConfig(pki(), port, { name, protocol }));
  const only = (report: Awaited<ReturnType<typeof check>>) => {
    assert.equal(report.verdict, 'failed');
    assert.equal(report.diagnoses.length, 1, JSON.stringify(report.diagnoses));
    return report.diagnoses[0];
  };

  it('"tls" at PostgreSQL (it resets the handshake): WRONG_PROTOCOL, set "postgres"', TEST, async () => {
    const d = only(await check(pg!.port, 'tls'));
    assert.equal(d.code, 'WRONG_PROTOCOL');
    assert.equal(d.summary, `Tunnel "inventory": 127.0.0.1:${pg!.port} is PostgreSQL, which a "tls" tunnel cannot talk to: it answered an SSLRequest with S (go ahead with TLS).`);
    assert.equal(d.fix, 'Set "protocol": "postgres".');
  });

  it('"tls" at MariaDB (it greets in plaintext): WRONG_PROTOCOL, set "mysql", naming the server', TEST, async () => {
    const d = only(await check(maria!.port, 'tls'));
    assert.equal(d.code, 'WRONG_PROTOCOL');
    assert.match(d.summary, new RegExp(`^Tunnel "inventory": 127\\.0\\.0\\.1:${maria!.port} is MySQL/MariaDB \\(10\\.[\\d.]+-MariaDB\\S*\\), which a "tls" tunnel cannot talk to: it greeted first with a MySQL handshake\\.$`));
    assert.equal(d.fix, 'Set "protocol": "mysql".');
  });

  it('"postgres" at MariaDB: WRONG_PROTOCOL, set "mysql"', TEST, async () => {
    const d = only(await check(maria!.port, 'postgres'));
    assert.equal(d.code, 'WRONG_PROTOCOL');
    assert.equal(d.fix, 'Set "protocol": "mysql".');
  });

  it('"postgres" at a plain TLS port (nginx): WRONG_PROTOCOL, set "tls"', TEST, async () => {
    const d = only(await check(nginx!.port, 'postgres'));
    assert.equal(d.code, 'WRONG_PROTOCOL');
    assert.equal(d.summary, `Tunnel "inventory": 127.0.0.1:${nginx!.port} is a TLS server, which a "postgres" tunnel cannot talk to: it answers a TLS ClientHello sent as the first byte.`);
    assert.equal(d.fix, 'Set "protocol": "tls" (or "postgres-direct", if it is PostgreSQL 17+ with direct TLS).');
  });

  it('"mysql" at a plain TLS port (nginx, silent until a ClientHello): WRONG_PROTOCOL, set "tls"', TEST, async () => {
    const d = only(await check(nginx!.port, 'mysql'));
    assert.equal(d.code, 'WRONG_PROTOCOL');
    assert.equal(d.fix, 'Set "protocol": "tls".');
  });

  it('"mysql" at PostgreSQL: WRONG_PROTOCOL, set "postgres"', TEST, async () => {
    const d = only(await check(pg!.port, 'mysql'));
    assert.equal(d.code, 'WRONG_PROTOCOL');
    assert.equal(d.fix, 'Set "protocol": "postgres".');
  });

  it('"tls" at Redis\'s plaintext port: PLAINTEXT_PORT, quoting its PONG', TEST, async () => {
    const d = only(await check(redisPort, 'tls', 'cache'));
    assert.equal(d.code, 'PLAINTEXT_PORT');
    assert.equal(d.summary, `Tunnel "cache": 127.0.0.1:${redisPort} is Redis without TLS, a plaintext port: it answered PING with "+PONG".`);
    assert.match(d.fix, /the server's TLS port \(Redis: its tls-port\)/);
  });

  it('"tls" at plain HTTP: TARGET_SPEAKS_PLAINTEXT quoting its answer to our ClientHello', TEST, async () => {
    const d = only(await check(webPort, 'tls', 'api'));
    assert.equal(d.code, 'TARGET_SPEAKS_PLAINTEXT');
    assert.equal(d.summary, `Tunnel "api": 127.0.0.1:${webPort} answered in plaintext, not TLS: it said "HTTP/1.1 400 Bad Request".`);
  });

  it('"mysql" at plain HTTP: PLAINTEXT_PORT, quoting its status line', TEST, async () => {
    const d = only(await check(webPort, 'mysql', 'api'));
    assert.equal(d.code, 'PLAINTEXT_PORT');
    assert.equal(d.summary, `Tunnel "api": 127.0.0.1:${webPort} is plain HTTP, a plaintext port: it answered HEAD / with "HTTP/1.1 200 OK".`);
  });
});

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}
