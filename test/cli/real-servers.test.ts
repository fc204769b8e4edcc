/**
 * End to end through the built CLI (`node dist/cli.js up`, per the DESIGN.md contract): plain
 * psql, redis-cli and curl on 127.0.0.1 reach real servers that demand client certificates, the
 * server sees alice's identity, large payloads arrive byte for byte, and SIGINT exits 0.
 * Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, RunningProcess } from '../support/cliProcess';
import { withPki } from '../support/pkiFixture';
import { unusedPort } from '../support/ports';
import {
  binary, clientEnv, requireBinary, run,
  RunningNginx, RunningPostgres, RunningRedis,
  startNginx, startPostgres, startRedis,
} from '../support/servers';

const pki = withPki();
const START = { timeout: 120_000 };
const TEST = { timeout: 60_000 };
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

interface TunnelEntry {
  name: string;
  listen: string;
  target: string;
  protocol: 'tls' | 'postgres';
  cert: string;
  key: string;
  ca: string;
  serverName: string;
}

/** A tunnel to `serverPort` with alice's credentials, listening on a free local port. */
async function tunnelTo(name: string, protocol: TunnelEntry['protocol'], serverPort: number): Promise<TunnelEntry> {
  const { client, ca } = pki();
  return {
    name,
    listen: `127.0.0.1:${await unusedPort()}`,
    target: `127.0.0.1:${serverPort}`,
    protocol,
    cert: client.cert,
    key: client.key,
    ca,
    serverName: 'localhost',
  };
}

/**
 * Runs `body` against `mtls-tunnels up --config FILE` serving `tunnel` (once it printed the
 * contract's line `NAME listening on HOST:PORT -> TARGET (PROTOCOL)`), then asserts that SIGINT
 * makes it exit 0.
 */
async function throughCli(tunnel: TunnelEntry, body: (localPort: number) => Promise<void>): Promise<void> {
  const configDir = await mkdtemp(path.join(os.tmpdir(), 'mtls-cli-'));
  const config = path.join(configDir, 'tunnels.json');
  await writeFile(config, JSON.stringify({ tunnels: [tunnel] }, null, 2));
  const cli = RunningProcess.start(CLI, ['up', '--config', config]);
  try {
    const line = `${tunnel.name} listening on ${tunnel.listen} -> ${tunnel.target} (${tunnel.protocol})`;
    await cli.waitForOutput((stdout) => stdout.split('\n').includes(line), `the line "${line}"`);
    await body(Number(tunnel.listen.split(':')[1]));
    const exit = await cli.stop('SIGINT');
    assert.deepEqual(exit, { code: 0, signal: null }, cli.stderr);
  } finally {
    await cli.dispose();
    await rm(configDir, { recursive: true, force: true });
  }
}

describe('up: PostgreSQL through a postgres tunnel', { skip: requireBinary('initdb', 'postgres', 'psql') }, () => {
  let pg: RunningPostgres | undefined;
  before(async () => {
    pg = await startPostgres({ pki: pki() });
  }, START);
  after(() => pg?.stop());

  it('a default psql (no sslmode) reaches the server as alice over TLS', TEST, async () => {
    await throughCli(await tunnelTo('pg', 'postgres', pg!.port), async (port) => {
      const query = 'select current_user, ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()';
      const args = ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'alice', 'staging', '-c', query];
      const result = await run(binary('psql'), args, { env: clientEnv(), timeoutMs: 20_000 });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.out.trim(), /^alice\|t\|\/CN=alice(\/|$)/);
    });
  });

  it('psql with a certificate the server refuses prints the tunnel\'s diagnosis, not a bare reset', TEST, async () => {
    // TLS 1.3: the server checks our certificate after the handshake, so the refusal arrives as an
    // alert once psql's StartupMessage has gone up. psql still gets the sentence, as an ErrorResponse.
    const tunnel = { ...(await tunnelTo('pg-rogue', 'postgres', pg!.port)), cert: pki().rogueClient.cert, key: pki().rogueClient.key };
    await throughCli(tunnel, async (port) => {
      const args = ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'alice', 'staging', '-c', 'select 1'];
      const result = await run(binary('psql'), args, { env: clientEnv(), timeoutMs: 20_000 });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /FATAL: {2}mTLS tunnel: Tunnel "pg-rogue": .*(not trust|does not accept|rejected)/);
      assert.doesNotMatch(result.stderr, /server closed the connection unexpectedly/);
    });
  });
});

describe('up: Redis through a tls tunnel', { skip: requireBinary('redis-server', 'redis-cli') }, () => {
  let redis: RunningRedis | undefined;
  before(async () => {
    redis = await startRedis({ pki: pki() });
  }, START);
  after(() => redis?.stop());

  const cli = (port: number, args: string[], input?: string) =>
    run(binary('redis-cli'), ['-h', '127.0.0.1', '-p', String(port), ...args], { env: clientEnv(), input, timeoutMs: 30_000 });

  it('plain redis-cli SET then GET', TEST, async () => {
    await throughCli(await tunnelTo('redis', 'tls', redis!.port), async (port) => {
      const set = await cli(port, ['SET', 'k', 'v']);
      assert.equal(set.out.trim(), 'OK', set.stderr);
      const get = await cli(port, ['GET', 'k']);
      assert.equal(get.out.trim(), 'v', get.stderr);
    });
  });

  it('a 4 MiB value round-trips byte for byte', TEST, async () => {
    await throughCli(await tunnelTo('redis', 'tls', redis!.port), async (port) => {
      const value = randomBytes(3 * 1024 * 1024).toString('base64');
      const set = await cli(port, ['-x', 'SET', 'big'], value);
      assert.equal(set.out.trim(), 'OK', set.stderr);
      const get = await cli(port, ['GET', 'big']);
      assert.equal(get.code, 0, get.stderr);
      const received = get.out.replace(/\n$/, '');
      assert.equal(received.length, value.length);
      assert.equal(sha256(received), sha256(value));
    });
  });
});

describe('up: nginx through a tls tunnel', { skip: requireBinary('nginx', 'curl') }, () => {
  let nginx: RunningNginx | undefined;
  before(async () => {
    nginx = await startNginx({ pki: pki() });
  }, START);
  after(() => nginx?.stop());

  const curl = (port: number, urlPath: string) =>
    run(binary('curl'), ['-sS', '--fail', '--max-time', '20', `http://127.0.0.1:${port}${urlPath}`], { env: clientEnv(), timeoutMs: 30_000 });

  it('plain curl arrives as alice', TEST, async () => {
    await throughCli(await tunnelTo('web', 'tls', nginx!.port), async (port) => {
      const result = await curl(port, '/');
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.out, /^client=.*CN=alice.* verify=SUCCESS$/m);
    });
  });

  it('a large download matches byte for byte', TEST, async () => {
    await throughCli(await tunnelTo('web', 'tls', nginx!.port), async (port) => {
      const result = await curl(port, nginx!.largeFile.urlPath);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.length, nginx!.largeFile.size);
      assert.equal(sha256(result.stdout), nginx!.largeFile.sha256);
    });
  });
});
