/**
 * Unix-socket listeners (`"listen": "unix:/path"`): the socket is mode 0600 even under a
 * permissive umask, a stale socket file is replaced, a live one refused with a clear message, an
 * unsafe folder or a file that is not a socket refused, and the file is gone after stop; psql,
 * redis-cli and curl reach the real servers through such sockets.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { promisify } from 'node:util';
import { clientEnv, socketClientCommands } from '../../src/core/clientEnv';
import { parseTunnels } from '../../src/core/config/parse';
import { TunnelStartError } from '../../src/core/tunnel/tunnel';
import { tunnelConfig } from '../support/tunnels';
import { echoOnce, startTunnel, within } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';
import { startMtlsServer } from '../support/mtlsServer';
import {
  binary, clientEnv as serverClientEnv, requireBinary, run,
  RunningNginx, RunningPostgres, RunningRedis, startNginx, startPostgres, startRedis,
} from '../support/servers';

const pki = withPki();
const START = { timeout: 120_000 };
const TEST = { timeout: 60_000 };
const skip = process.platform === 'win32' ? 'unix-socket listeners are refused on Windows' : undefined;

async function socketDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-sock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function connectPath(file: string): Promise<net.Socket> {
  const socket = net.connect({ path: file });
  socket.on('error', () => undefined);
  return within(new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  }), 3000, `connect to ${file}`);
}

async function startError(t: Parameters<typeof startTunnel>[0], config: Parameters<typeof startTunnel>[1]): Promise<TunnelStartError> {
  const e = await startTunnel(t, config).then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof TunnelStartError, `the tunnel started, or failed otherwise: ${String(e)}`);
  return e;
}

describe('unix-socket listeners', { skip }, () => {
  test('owner-only (0600) under umask 0, bridged, counted as unix-socket protection, removed on stop', async (t) => {
    const dir = await socketDir(t);
    const file = path.join(dir, 'echo.sock');
    const backend = await startMtlsServer(pki(), {}, t);
    const previous = process.umask(0);
    let tunnel;
    try {
      tunnel = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'sock', listen: `unix:${file}` }));
    } finally {
      process.umask(previous);
    }
    const s = await lstat(file);
    assert.ok(s.isSocket());
    assert.equal((s.mode & 0o777).toString(8), '600');
    assert.deepEqual(tunnel.listeningOn(), { path: file });
    assert.equal(tunnel.counts().protection?.kind, 'unix-socket');
    const client = await connectPath(file);
    assert.equal(await echoOnce(client, 'over the socket\n'), 'over the socket\n');
    assert.equal(tunnel.snapshot().connections[0].client, 'the unix socket');
    client.destroy();
    await tunnel.stop();
    await assert.rejects(lstat(file), { code: 'ENOENT' }, 'the socket file is left after stop');
  });

  test('a stale socket file (its process gone) is replaced; a live one is refused', async (t) => {
    const dir = await socketDir(t);
    const file = path.join(dir, 'stale.sock');
    // A process that listens, then exits without closing: its socket file stays, nobody answers.
    await promisify(execFile)(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(file)}, () => process.exit(0))`]);
    assert.ok((await lstat(file)).isSocket(), 'the stale socket was not left behind');
    const backend = await startMtlsServer(pki(), {}, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'stale', listen: `unix:${file}` }));
    assert.equal(await echoOnce(await connectPath(file), 'fresh\n'), 'fresh\n');

    const e = await startError(t, tunnelConfig(pki(), backend.port, { name: 'second', listen: `unix:${file}` }));
    assert.equal(e.diagnosis.code, 'PORT_IN_USE');
    assert.match(e.diagnosis.summary, new RegExp(`^Tunnel "second": the unix socket ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is already in use`));
    assert.equal(e.field, 'listen');
    // The first tunnel's socket is untouched by the refused one.
    assert.equal(await echoOnce(await connectPath(file), 'still\n'), 'still\n');
    await tunnel.stop();
  });

  test('a missing folder, a world-writable folder without the sticky bit, and a regular file are refused', async (t) => {
    const dir = await socketDir(t);
    const backend = await startMtlsServer(pki(), {}, t);
    const missing = await startError(t, tunnelConfig(pki(), backend.port, { name: 'missing', listen: `unix:${dir}/nope/s.sock` }));
    assert.match(missing.diagnosis.summary, /folder .*nope for the unix socket does not exist/);

    const open = path.join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    const unsafe = await startError(t, tunnelConfig(pki(), backend.port, { name: 'open', listen: `unix:${open}/s.sock` }));
    assert.equal(unsafe.diagnosis.code, 'LISTEN_DENIED');
    assert.match(unsafe.diagnosis.summary, /writable by every user and not sticky \(mode 777\)/);
    await chmod(open, 0o1777);
    const sticky = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'sticky', listen: `unix:${open}/s.sock` }));
    assert.equal((await stat(`${open}/s.sock`)).mode & 0o777, 0o600);
    await sticky.stop();

    const file = path.join(dir, 'notes.txt');
    await writeFile(file, 'keep me');
    const notSocket = await startError(t, tunnelConfig(pki(), backend.port, { name: 'file', listen: `unix:${file}` }));
    assert.match(notSocket.diagnosis.summary, /already exists and is not a socket/);
    assert.equal((await stat(file)).size, 7, 'the file was overwritten');
  });

  test('"unix:" paths take ~ and variables, relative ones need a workspace folder, long ones are refused', () => {
    const entry = (listen: string) => ({ name: 's', listen, target: 'db:5432', cert: '/c.crt', key: '/c.key' });
    const vars = { userHome: '/home/me', workspaceFolder: '/work/proj', env: { RUN: '/run/user/7' } };
    const { tunnels, errors } = parseTunnels([entry('unix:~/.mtls/a.sock'), { ...entry('unix:${env:RUN}/pg/.s.PGSQL.5432'), name: 't' }, { ...entry('unix:sock/b.sock'), name: 'u' }], vars);
    assert.deepEqual(errors.map(String), []);
    assert.deepEqual(tunnels.map((x) => x.listen), [{ path: '/home/me/.mtls/a.sock' }, { path: '/run/user/7/pg/.s.PGSQL.5432' }, { path: '/work/proj/sock/b.sock' }]);
    const bad = parseTunnels([entry('unix:rel.sock'), { ...entry(`unix:/${'x'.repeat(120)}`), name: 't' }, { ...entry('unix:'), name: 'u' }]).errors.map(String);
    assert.match(bad[0], /tunnel "s": listen: relative socket path "rel.sock" needs a workspace folder/);
    assert.match(bad[1], /tunnel "t": listen: socket path .* is 121 bytes long; unix sockets allow at most 103/);
    assert.match(bad[2], /tunnel "u": listen: "unix:" needs a socket path/);
  });

  test('client variables and commands use the socket', () => {
    const target = { host: 'db', port: 5432 };
    const pg = clientEnv({ name: 'db', protocol: 'postgres', target, listen: { path: '/run/me/.s.PGSQL.5432' }, user: 'alice' });
    assert.equal(pg.PGHOST, '/run/me');
    assert.equal(pg.PGPORT, '5432');
    assert.match(socketClientCommands({ name: 'db', protocol: 'postgres', target }, '/run/me/.s.PGSQL.5432', pg)[0].command, /^psql 'host=\/run\/me port=5432 user=alice dbname=alice sslmode=disable'$/);
    const my = clientEnv({ name: 'm', protocol: 'mysql', target: { host: 'm', port: 3306 }, listen: { path: '/run/me/my.sock' }, user: 'bob', database: 'shop' });
    assert.equal(my.MYSQL_UNIX_PORT, '/run/me/my.sock');
    assert.equal(my.MYSQL_HOST, undefined);
    assert.equal(my.DATABASE_URL, 'mysql://bob@localhost/shop?socket=%2Frun%2Fme%2Fmy.sock');
    assert.equal(socketClientCommands({ name: 'm', protocol: 'mysql', target: { host: 'm', port: 3306 }, database: 'shop' }, '/run/me/my.sock', my, 'bob')[0].command, 'mysql --socket=/run/me/my.sock -u bob --ssl-mode=DISABLED shop');
    const redis = clientEnv({ name: 'cache', protocol: 'tls', target: { host: 'r', port: 6379 }, listen: { path: '/run/me/redis.sock' } });
    assert.equal(redis.REDIS_URL, 'unix:///run/me/redis.sock');
    assert.equal(socketClientCommands({ name: 'cache', protocol: 'tls', target: { host: 'r', port: 6379 } }, '/run/me/redis.sock', redis)[0].command, 'redis-cli -s /run/me/redis.sock');
    assert.equal(socketClientCommands({ name: 'api', protocol: 'tls', target: { host: 'a', port: 443 } }, '/run/me/my api.sock', {})[0].command, "curl --unix-socket '/run/me/my api.sock' http://localhost/");
  });
});

describe('stock clients over unix-socket listeners, against the real servers', { skip }, () => {
  describe('psql -h DIR -p PORT (PostgreSQL\'s .s.PGSQL.PORT)', { skip: requireBinary('initdb', 'postgres', 'psql') }, () => {
    let pg: RunningPostgres | undefined;
    before(async () => {
      pg = await startPostgres({ pki: pki() });
    }, START);
    after(() => pg?.stop());

    it('reaches the server as alice over TLS', TEST, async (t) => {
      const dir = await socketDir(t);
      await startTunnel(t, tunnelConfig(pki(), pg!.port, { name: 'pg', protocol: 'postgres', listen: `unix:${dir}/.s.PGSQL.6432` }));
      const query = 'select current_user, ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()';
      const result = await run(binary('psql'), ['-X', '-At', '-h', dir, '-p', '6432', '-U', 'alice', 'staging', '-c', query], { env: serverClientEnv(), timeoutMs: 20_000 });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.out.trim(), /^alice\|t\|\/CN=alice(\/|$)/);
    });
  });

  describe('redis-cli -s', { skip: requireBinary('redis-server', 'redis-cli') }, () => {
    let redis: RunningRedis | undefined;
    before(async () => {
      redis = await startRedis({ pki: pki() });
    }, START);
    after(() => redis?.stop());

    it('SET then GET', TEST, async (t) => {
      const dir = await socketDir(t);
      const file = path.join(dir, 'redis.sock');
      await startTunnel(t, tunnelConfig(pki(), redis!.port, { name: 'redis', listen: `unix:${file}` }));
      const cli = (...args: string[]) => run(binary('redis-cli'), ['-s', file, ...args], { env: serverClientEnv(), timeoutMs: 20_000 });
      assert.equal((await cli('SET', 'over', 'socket')).out.trim(), 'OK');
      assert.equal((await cli('GET', 'over')).out.trim(), 'socket');
    });
  });

  describe('curl --unix-socket', { skip: requireBinary('nginx', 'curl') }, () => {
    let nginx: RunningNginx | undefined;
    before(async () => {
      nginx = await startNginx({ pki: pki() });
    }, START);
    after(() => nginx?.stop());

    it('arrives as alice', TEST, async (t) => {
      const dir = await socketDir(t);
      const file = path.join(dir, 'api.sock');
      await startTunnel(t, tunnelConfig(pki(), nginx!.port, { name: 'api', listen: `unix:${file}` }));
      const result = await run(binary('curl'), ['-sS', '--fail', '--max-time', '20', '--unix-socket', file, 'http://localhost/'], { env: serverClientEnv(), timeoutMs: 30_000 });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.out, /client=.*CN=alice/);
    });
  });
});
