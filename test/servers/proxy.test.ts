/**
 * Tunnels through a real HTTP CONNECT proxy (Debian's tinyproxy on 127.0.0.1): bytes byte-exact
 * both ways (tinyproxy closes a tunnel when either side ends, so no half-close here; the unit
 * tests carry one through a relay that keeps it), PostgreSQL's SSLRequest and MySQL's
 * in-handshake TLS upgrade inside the CONNECT tunnel, Basic credentials from the environment that
 * never reach a log line, what the doctor says when the proxy is down, wants credentials, refuses
 * ours or forbids the port, the server still verified by the target's name, `"proxy": "env"` with
 * HTTPS_PROXY and NO_PROXY, `up` naming the proxy, and the exported stunnel service doing the same.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, TestContext } from 'node:test';
import { runCheck } from '../../src/cli/check';
import { runUp } from '../../src/cli/up';
import { TunnelConfig } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { checkTunnel, formatCheckReport } from '../../src/core/doctor';
import { exportTunnel } from '../../src/core/export';
import { MtlsServer, startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import {
  binary, clientEnv, requireBinary, run, RunningMariadb, RunningPostgres, RunningTinyproxy, startMariadb, startPostgres, startTinyproxy,
} from '../support/servers';
import { Daemon, waitUntilReady } from '../support/servers/daemon';
import { unusedPort } from '../support/ports';
import { tunnelConfig } from '../support/tunnels';
import {
  MB, closed, connectLocal, echoOnce, readToEnd, recordingLogger, sha256, sourceHandler, startTunnel, tunnelPort,
  until, within, writeAll,
} from '../support/tunnelKit';

const pki = withPki();
const START = { timeout: 120_000 };
const TEST = { timeout: 60_000 };
const PASSWORD = 'Tr0ub4dor.3-not-in-any-log';
const BASIC = Buffer.from(`alice:${PASSWORD}`).toString('base64');

/** A server handler that hashes the first `n` bytes and answers `<n> <sha256>\n`, without waiting for an end. */
function countingSink(n: number): (socket: net.Socket) => void {
  return (socket) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (d: Buffer) => {
      if (bytes >= n) return;
      const part = d.subarray(0, n - bytes);
      hash.update(part);
      bytes += part.length;
      if (bytes === n) socket.end(`${bytes} ${hash.digest('hex')}\n`);
    });
  };
}

/** The diagnoses a tunnel reports, as they come. */
function diagnosesOf(tunnel: { on(event: 'diagnosis', l: (d: Diagnosis) => void): unknown }): Diagnosis[] {
  const seen: Diagnosis[] = [];
  tunnel.on('diagnosis', (d) => seen.push(d));
  return seen;
}

describe('through tinyproxy', { skip: requireBinary('tinyproxy') }, () => {
  const payload = randomBytes(4 * MB);
  let echo: MtlsServer;
  let sink: MtlsServer;
  let source: MtlsServer;
  let open: RunningTinyproxy;
  let guarded: RunningTinyproxy;
  let strict: RunningTinyproxy;

  // One at a time, each assigned as it starts: if a later one fails, after() still stops the
  // earlier ones, whose live child processes would otherwise keep this file from ever ending.
  before(async () => {
    echo = await startMtlsServer(pki());
    sink = await startMtlsServer(pki(), { handler: countingSink(payload.length) });
    source = await startMtlsServer(pki(), { handler: sourceHandler(payload) });
    const ports = [echo.port, sink.port, source.port];
    open = await startTinyproxy({ connectPorts: ports });
    guarded = await startTinyproxy({ connectPorts: ports, basicAuth: { user: 'alice', password: PASSWORD } });
    // Like many corporate proxies: CONNECT only to 443.
    strict = await startTinyproxy({ connectPorts: [443] });
  }, START);
  after(async () => {
    await Promise.all([open, guarded, strict].map((p) => p?.stop()));
    await Promise.all([echo, sink, source].map((s) => s?.close()));
  });

  const via = (proxy: RunningTinyproxy) => ({ proxy: proxy.url });

  it('carries 4 MB up and 4 MB down byte-exact, each CONNECT logged by the proxy', TEST, async (t) => {
    const up = await startTunnel(t, tunnelConfig(pki(), sink.port, { name: 'up', ...via(open) }));
    const down = await startTunnel(t, tunnelConfig(pki(), source.port, { name: 'down', ...via(open) }));

    // Without a half-close: tinyproxy tears the whole tunnel down when one side ends.
    const uploader = await connectLocal(t, tunnelPort(up));
    const verdict = readToEnd(uploader, 30_000);
    await writeAll(uploader, payload, { end: false });
    assert.equal((await verdict).data!.toString(), `${payload.length} ${sha256(payload)}\n`, 'what the server received');
    uploader.end();

    const downloader = await connectLocal(t, tunnelPort(down));
    const got = await readToEnd(downloader, 30_000, { keep: false });
    downloader.end();
    assert.equal(got.bytes, payload.length);
    assert.equal(got.sha256, sha256(payload), 'what the client received');

    const connects = await open.connects();
    assert.ok(connects.includes(`127.0.0.1:${sink.port}`) && connects.includes(`127.0.0.1:${source.port}`), connects.join(', '));
    assert.deepEqual(sink.clients.slice(-1), ['alice']);
  });

  it('Basic credentials from ${env:…} open the way, and appear in no log line, report or check output', TEST, async (t) => {
    const env = { ...process.env, PROXY_PASSWORD: PASSWORD };
    const { tunnels, errors } = parseTunnels([{
      name: 'authed', listen: 0, target: `127.0.0.1:${echo.port}`, serverName: 'localhost',
      cert: pki().client.cert, key: pki().client.key, ca: pki().ca, connectTimeoutMs: 3000,
      proxy: `http://alice:\${env:PROXY_PASSWORD}@127.0.0.1:${guarded.port}`,
    }], { env });
    assert.deepEqual(errors.map(String), []);
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnels[0], { logger });
    const client = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(client, 'through an authenticating proxy'), 'through an authenticating proxy');
    client.end();
    await closed(client, 5000);

    const report = await checkTunnel(tunnels[0]);
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
    const text = formatCheckReport(report);
    assert.match(text, new RegExp(`\\n  Proxy       http://\\*\\*\\*@127\\.0\\.0\\.1:${guarded.port} \\(HTTP CONNECT\\)\\n`));

    const out: string[] = [];
    assert.equal(await runCheck(tunnels, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) }, { json: true }), 0);
    for (const where of [logger.lines.join('\n'), JSON.stringify(report), text, out.join('')]) {
      assert.ok(!where.includes(PASSWORD) && !where.includes(BASIC), `the password leaked into:\n${where}`);
    }
    assert.ok(logger.lines.length > 0, 'the tunnel logged something');
  });

  it('mtls-tunnels up names the proxy on stderr, redacted, and carries bytes through it', TEST, async (t) => {
    const { tunnels } = parseTunnels([{
      name: 'up-authed', listen: 0, target: `127.0.0.1:${echo.port}`, serverName: 'localhost',
      cert: pki().client.cert, key: pki().client.key, ca: pki().ca, proxy: `http://alice:\${env:PROXY_PASSWORD}@127.0.0.1:${guarded.port}`,
    }], { env: { PROXY_PASSWORD: PASSWORD } });
    const logger = recordingLogger();
    const stdout: string[] = [];
    let stop!: (signal: string) => void;
    const stopSignal = new Promise<string>((resolve) => (stop = resolve));
    const exit = runUp(tunnels, { stdout: (s) => stdout.push(s), stderr: (s) => stdout.push(s), logger, stopSignal }, 100);
    t.after(() => stop('SIGTERM'));
    await until(() => stdout.length > 0, 5000, 'the listening line');
    const port = Number(/^up-authed listening on 127\.0\.0\.1:(\d+) -> /.exec(stdout[0])![1]);
    const client = await connectLocal(t, port);
    assert.equal(await echoOnce(client, 'up through the proxy'), 'up through the proxy');
    client.destroy();
    stop('SIGTERM');
    assert.equal(await exit, 0);
    assert.ok(logger.lines.includes(`info [up-authed] through the HTTP proxy http://***@127.0.0.1:${guarded.port}`), logger.lines.join('\n'));
    const everything = [...stdout, ...logger.lines].join('\n');
    assert.ok(!everything.includes(PASSWORD) && !everything.includes(BASIC), everything);
  });

  it('a wrong password: PROXY_AUTH_FAILED names where the credentials come from, never what they are', TEST, async (t) => {
    const wrong = `${PASSWORD}-but-wrong`;
    const { tunnels } = parseTunnels([{
      name: 'wrong', listen: 0, target: `127.0.0.1:${echo.port}`, serverName: 'localhost',
      cert: pki().client.cert, key: pki().client.key, ca: pki().ca, connectTimeoutMs: 3000,
      proxy: `http://alice:\${env:PROXY_PASSWORD}@127.0.0.1:${guarded.port}`,
    }], { env: { PROXY_PASSWORD: wrong } });
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnels[0], { logger });
    const seen = diagnosesOf(tunnel);
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write('hello?');
    await closed(client, 5000);
    await until(() => seen.length > 0, 5000, 'the diagnosis');
    const [d] = seen;
    assert.equal(d.code, 'PROXY_AUTH_FAILED');
    // tinyproxy answers wrong credentials with 401, missing ones with 407.
    assert.equal(d.summary, `Tunnel "wrong": the proxy http://***@127.0.0.1:${guarded.port} refused the credentials from alice:\${env:PROXY_PASSWORD} (it answered "HTTP/1.0 401 Unauthorized").`);
    assert.equal(d.fix, 'Check the user name and password behind alice:${env:PROXY_PASSWORD}; the password itself is never shown here.');
    const all = logger.lines.join('\n');
    assert.match(all, /PROXY|refused the credentials/);
    for (const secret of [wrong, Buffer.from(`alice:${wrong}`).toString('base64')]) assert.ok(!all.includes(secret), `leaked:\n${all}`);
  });

  it('no credentials: PROXY_AUTH_REQUIRED quotes the 407 and says how to give them', TEST, async () => {
    const report = await checkTunnel(tunnelConfig(pki(), echo.port, { name: 'noauth', ...via(guarded) }));
    assert.equal(report.verdict, 'failed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'PROXY_AUTH_REQUIRED');
    assert.equal(d.summary, `Tunnel "noauth": the proxy ${guarded.url} requires authentication (it answered "HTTP/1.0 407 Proxy Authentication Required").`);
    assert.equal(d.fix, `Give it a user name and a password from the environment: "proxy": "http://USER:\${env:PROXY_PASSWORD}@127.0.0.1:${guarded.port}".`);
  });

  it('a port the proxy does not allow: PROXY_DENIED quotes its 403', TEST, async () => {
    const report = await checkTunnel(tunnelConfig(pki(), echo.port, { name: 'denied', ...via(strict) }));
    const [d] = report.diagnoses;
    assert.equal(d.code, 'PROXY_DENIED');
    assert.equal(d.summary, `Tunnel "denied": the proxy ${strict.url} does not allow a tunnel to 127.0.0.1:${echo.port} (it answered "HTTP/1.1 403 Access violation").`);
    assert.equal(d.fix, `Ask the proxy's administrators to allow CONNECT to 127.0.0.1:${echo.port} (many proxies allow only port 443); if the target is reachable without the proxy, remove "proxy" or add the host to NO_PROXY.`);
  });

  it('the proxy down: PROXY_UNREACHABLE names it, redacted, in the check and on the tunnel', TEST, async (t) => {
    const port = await unusedPort();
    const env = { PROXY_PASSWORD: PASSWORD };
    const { tunnels } = parseTunnels([{
      name: 'down', listen: 0, target: `127.0.0.1:${echo.port}`, serverName: 'localhost',
      cert: pki().client.cert, key: pki().client.key, ca: pki().ca, connectTimeoutMs: 3000,
      proxy: `http://alice:\${env:PROXY_PASSWORD}@127.0.0.1:${port}`,
    }], { env });
    const report = await checkTunnel(tunnels[0]);
    const [d] = report.diagnoses;
    assert.equal(d.code, 'PROXY_UNREACHABLE');
    assert.equal(d.summary, `Tunnel "down": nothing is listening at the proxy http://***@127.0.0.1:${port} (connection refused).`);
    assert.equal(d.fix, 'Check the proxy\'s host and port in "proxy", and that the proxy is running.');

    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnels[0], { logger });
    const seen = diagnosesOf(tunnel);
    const client = await connectLocal(t, tunnelPort(tunnel));
    await closed(client, 5000);
    await until(() => seen.length > 0, 5000, 'the diagnosis');
    assert.equal(seen[0].code, 'PROXY_UNREACHABLE');
    assert.ok(!logger.lines.join('\n').includes(PASSWORD));
  });

  it('the server is still verified by the target\'s name: a wrong serverName fails through the proxy', TEST, async () => {
    const report = await checkTunnel(tunnelConfig(pki(), echo.port, { name: 'mismatch', serverName: 'db.example', ...via(open) }));
    assert.equal(report.verdict, 'failed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_NAME_MISMATCH');
    assert.match(d.summary, /^Tunnel "mismatch": the server certificate is not valid for "db\.example"; it names DNS:localhost/);
  });

  it('check shows the proxy hop and times the CONNECT', TEST, async () => {
    const report = await checkTunnel(tunnelConfig(pki(), echo.port, { name: 'timed', ...via(open) }));
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
    assert.ok(report.timings?.proxyMs !== undefined && report.timings.tcpMs !== undefined && report.timings.tlsMs !== undefined);
    const text = formatCheckReport(report);
    assert.match(text, new RegExp(`\\n  Proxy       ${open.url.replace(/\./g, '\\.')} \\(HTTP CONNECT\\)\\n`));
    assert.match(text, /\n  Timings     DNS \(proxy\) [\d.]+ ms · TCP \(proxy\) [\d.]+ ms · CONNECT [\d.]+ ms · TLS [\d.]+ ms\n/);
  });

  describe('"proxy": "env"', () => {
    // A target on this machine's own non-loopback address: "env" never proxies loopback.
    const address = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    let lan: MtlsServer | undefined;
    let lanPort = 0;
    before(async () => {
      if (!address) return;
      lan = await startMtlsServer(pki(), { host: address });
      lanPort = lan.port;
    });
    after(() => lan?.close());

    const envTunnel = (env: NodeJS.ProcessEnv): TunnelConfig => {
      const { tunnels, errors } = parseTunnels([{
        name: 'from-env', listen: 0, target: `${address}:${lanPort}`, serverName: 'localhost',
        cert: pki().client.cert, key: pki().client.key, ca: pki().ca, connectTimeoutMs: 3000, proxy: 'env',
      }], { env });
      assert.deepEqual(errors.map(String), []);
      return tunnels[0];
    };

    it('HTTPS_PROXY is used; NO_PROXY sends the same target direct', { ...TEST, skip: address ? false : 'no non-loopback IPv4 address on this machine' }, async (t) => {
      // An "open" proxy that lets CONNECT reach any port.
      const any = await startTinyproxy();
      t.after(() => any.stop());
      const proxied = envTunnel({ HTTPS_PROXY: any.url, NO_PROXY: 'localhost,127.0.0.1' });
      assert.equal(proxied.proxy?.source, 'HTTPS_PROXY');
      const tunnel = await startTunnel(t, proxied);
      const client = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(client, 'via HTTPS_PROXY'), 'via HTTPS_PROXY');
      assert.deepEqual(await any.connects(), [`${address}:${lanPort}`]);

      const direct = envTunnel({ HTTPS_PROXY: any.url, NO_PROXY: `localhost,${address}` });
      assert.equal(direct.proxy, undefined);
      assert.equal(direct.proxyBypass, `NO_PROXY entry "${address}" matches ${address}`);
      const report = await checkTunnel(direct);
      assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
      assert.match(formatCheckReport(report), new RegExp(`\\n  Proxy       none: NO_PROXY entry "${address!.replace(/\./g, '\\.')}" matches`));
      assert.equal((await any.connects()).length, 1, 'the direct check did not go through the proxy');
    });
  });
});

describe('PostgreSQL through tinyproxy', { skip: requireBinary('tinyproxy', 'initdb', 'postgres', 'psql') }, () => {
  let pg: RunningPostgres | undefined;
  let proxy: RunningTinyproxy | undefined;
  before(async () => {
    pg = await startPostgres({ pki: pki() });
    proxy = await startTinyproxy({ connectPorts: [pg.port] });
  }, START);
  after(async () => {
    await proxy?.stop();
    await pg?.stop();
  });

  it('the SSLRequest and TLS run inside the CONNECT tunnel; psql arrives as alice', TEST, async (t) => {
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg!.port, { name: 'pg', protocol: 'postgres', proxy: proxy!.url }));
    const query = 'select current_user, ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()';
    const result = await run(binary('psql'), ['-X', '-At', '-h', '127.0.0.1', '-p', String(tunnelPort(tunnel)), '-U', 'alice', 'staging', '-c', query], { env: clientEnv(), timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.out.trim(), /^alice\|t\|\/CN=alice(\/|$)/);
    assert.deepEqual(await proxy!.connects(), [`127.0.0.1:${pg!.port}`]);
  });
});

describe('MySQL through tinyproxy', { skip: requireBinary('tinyproxy', 'mariadbd', 'mariadb-install-db', 'mariadb') }, () => {
  let db: RunningMariadb | undefined;
  let proxy: RunningTinyproxy | undefined;
  before(async () => {
    db = await startMariadb({ pki: pki() });
    proxy = await startTinyproxy({ connectPorts: [db.port] });
  }, START);
  after(async () => {
    await proxy?.stop();
    await db?.stop();
  });

  it('the server speaks first: its greeting, right behind the proxy\'s 200, starts the TLS upgrade', TEST, async (t) => {
    const tunnel = await startTunnel(t, tunnelConfig(pki(), db!.port, { name: 'maria', protocol: 'mysql', proxy: proxy!.url }));
    const query = "select current_user(), variable_value from information_schema.session_status where variable_name = 'Ssl_version'";
    const result = await run(binary('mariadb'), ['--no-defaults', '--skip-ssl', '-h', '127.0.0.1', '-P', String(tunnelPort(tunnel)), '-u', 'alice',
      '--batch', '--skip-column-names', '--connect-timeout=10', 'staging', '-e', query], { env: clientEnv(), timeoutMs: 30_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.out.trim(), /^alice@%\tTLSv1\.[23]$/);
    assert.deepEqual(await proxy!.connects(), [`127.0.0.1:${db!.port}`]);
  });
});

describe('the exported stunnel service through tinyproxy', { skip: requireBinary('tinyproxy', 'stunnel') }, () => {
  it('protocol = connect reaches the mTLS echo server through the proxy, byte-exact', TEST, async (t: TestContext) => {
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const proxy = await startTinyproxy({ connectPorts: [server.port] });
    t.after(() => proxy.stop());
    const config = tunnelConfig(pki(), server.port, { name: 'stunnel via proxy', listen: await unusedPort(), proxy: proxy.url });
    const file = path.join(pki().dir, `stunnel-proxy-${config.listen.port}.conf`);
    await writeFile(file, ['foreground = yes', 'pid =', 'debug = info', exportTunnel(config, 'stunnel').text].join('\n'));
    const daemon = new Daemon('stunnel', binary('stunnel'), [file]);
    t.after(() => daemon.stop('SIGTERM', 3000));
    await waitUntilReady(daemon, async () => /bound to/.test(daemon.log), { timeoutMs: 10_000 });
    const client = await connectLocal(t, config.listen.port);
    const data = randomBytes(256 * 1024);
    const reply = readToEnd(client, 20_000);
    await writeAll(client, data);
    const got = await within(reply, 20_000, 'the echo');
    assert.equal(got.sha256, sha256(data));
    assert.deepEqual(await proxy.connects(), [`127.0.0.1:${server.port}`]);
    assert.deepEqual(server.clients, ['alice']);
  });
});
