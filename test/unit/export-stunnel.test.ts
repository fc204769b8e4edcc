/**
 * The exported stunnel.conf, run by Debian's real stunnel against a real mTLS echo server: bytes
 * come back byte-exact (by host name, by IP, through `protocol = pgsql` to a server that wants
 * the SSLRequest first, and past a first target that is down), and the rogue client certificate
 * or a wrong server name gets nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, test, TestContext } from 'node:test';
import { TunnelConfig } from '../../src/core/config/model';
import { exportTunnel } from '../../src/core/export';
import { startMtlsServer } from '../support/mtlsServer';
import { binary, requireBinary } from '../support/servers/binaries';
import { Daemon, waitUntilReady } from '../support/servers/daemon';
import { tunnelConfig } from '../support/tunnels';
import { SSL_REQUEST } from '../support/fakePostgres';
import { withPki } from '../support/pkiFixture';
import { unusedPort } from '../support/ports';
import { MB, connectLocal, echoOnce, readBytes, readToEnd, until, within, writeAll } from '../support/tunnelKit';

describe('stunnel runs the exported config', { skip: requireBinary('stunnel') }, () => {
  const pki = withPki();

  async function exported(targetPort: number, overrides: Record<string, unknown> = {}): Promise<TunnelConfig> {
    return tunnelConfig(pki(), targetPort, { name: 'export e2e', listen: await unusedPort(), ...overrides });
  }

  /** Writes the export plus the global lines a foreground run needs, starts stunnel, waits for its listener. */
  async function runStunnel(t: TestContext, config: TunnelConfig): Promise<Daemon> {
    const file = path.join(pki().dir, `stunnel-${config.listen.port}.conf`);
    // `debug = info` makes stunnel log "Service [...] bound to", which says it is listening
    // without a probe connection (which would reach the server as a client of its own).
    await writeFile(file, ['foreground = yes', 'pid =', 'debug = info', exportTunnel(config, 'stunnel').text].join('\n'));
    const daemon = new Daemon('stunnel', binary('stunnel'), [file]);
    t.after(() => daemon.stop('SIGTERM', 3000));
    await waitUntilReady(daemon, async () => /bound to/.test(daemon.log), { timeoutMs: 10_000 });
    return daemon;
  }

  /**
   * Everything that arrives until the connection closes, however it closes. The local socket
   * allows half-open, so our side ends when stunnel's does, as a real client would.
   */
  function untilClosed(socket: net.Socket): Promise<Buffer> {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('end', () => socket.end());
    return within(new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks)))), 10_000, 'stunnel to close the connection');
  }

  test('1 MB through stunnel comes back from the mTLS echo server byte-exact', { timeout: 30_000 }, async (t) => {
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const config = await exported(server.port);
    await runStunnel(t, config);
    const payload = randomBytes(MB);
    const client = await connectLocal(t, config.listen.port);
    const reply = readToEnd(client, 20_000);
    await writeAll(client, payload);
    const got = await reply;
    assert.equal(got.bytes, payload.length);
    assert.ok(got.data!.equals(payload), 'the echo differs from what was sent');
    assert.deepEqual(server.clients, ['alice']);
  });

  test('resumption off becomes sessionResume = no: stunnel then resumes none of its handshakes, where by default it resumes some', { timeout: 30_000 }, async (t) => {
    const resumedWith = async (resumption: 'once' | 'off'): Promise<boolean[]> => {
      const resumed: boolean[] = [];
      const server = await startMtlsServer(pki(), { minVersion: 'TLSv1.3', handler: (s) => { resumed.push(s.isSessionReused()); s.pipe(s); } });
      t.after(() => server.close());
      const config = await exported(server.port, { resumption });
      await runStunnel(t, config);
      for (let i = 0; i < 6; i++) {
        const client = await connectLocal(t, config.listen.port);
        assert.equal(await echoOnce(client, `round ${i}`), `round ${i}`);
        client.end();
        await until(() => resumed.length === i + 1, 5000, `handshake ${i + 1} at the server`);
      }
      return resumed;
    };
    assert.ok((await resumedWith('once')).some(Boolean), 'stunnel resumes some handshakes by default');
    assert.deepEqual(await resumedWith('off'), Array(6).fill(false));
  });

  test('a combined PEM (cert alone) exports without a key line, and stunnel reads the key from it', { timeout: 30_000 }, async (t) => {
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const combined = path.join(pki().dir, 'client-combined.pem');
    await writeFile(combined, `${await readFile(pki().client.cert, 'utf8')}${await readFile(pki().client.key, 'utf8')}`);
    const config = await exported(server.port, { cert: combined, key: undefined });
    assert.doesNotMatch(exportTunnel(config, 'stunnel').text, /^key =/m);
    await runStunnel(t, config);
    const client = await connectLocal(t, config.listen.port);
    assert.equal(await echoOnce(client, 'combined\n'), 'combined\n');
    assert.deepEqual(server.clients, ['alice']);
  });

  test('the rogue client certificate: the server refuses it and nothing comes back', { timeout: 30_000 }, async (t) => {
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const config = await exported(server.port, { cert: pki().rogueClient.cert, key: pki().rogueClient.key });
    const daemon = await runStunnel(t, config);
    const client = await connectLocal(t, config.listen.port);
    client.on('error', () => undefined);
    const got = untilClosed(client);
    client.write('hello through a rogue certificate');
    assert.equal((await got).length, 0);
    assert.deepEqual(server.clients, []);
    await until(() => /Connection closed/.test(daemon.log), 5000, 'stunnel to log the closed connection');
    assert.match(daemon.log, /Peer certificate required/);
    assert.match(daemon.log, /0 byte\(s\) sent to socket/);
  });

  test('a server name the certificate does not carry: checkHost refuses the server', { timeout: 30_000 }, async (t) => {
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const config = await exported(server.port, { serverName: 'other.example' });
    const daemon = await runStunnel(t, config);
    const client = await connectLocal(t, config.listen.port);
    client.on('error', () => undefined);
    const got = untilClosed(client);
    client.write('hello');
    assert.equal((await got).length, 0);
    assert.deepEqual(server.clients, []);
    await until(() => /Connection closed/.test(daemon.log), 5000, 'stunnel to log the closed connection');
    assert.match(daemon.log, /CERT: Subject checks failed/);
  });

  test('an IP server name: checkIP against the IP SAN, no SNI', { timeout: 30_000 }, async (t) => {
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const config = await exported(server.port, { serverName: '127.0.0.1' });
    await runStunnel(t, config);
    const client = await connectLocal(t, config.listen.port);
    assert.equal(await echoOnce(client, 'ping over checkIP'), 'ping over checkIP');
  });

  test('two targets, the first down: stunnel (failover = prio) reaches the second; CRLfile and TIMEOUTclose accepted', { timeout: 30_000 }, async (t) => {
    const down = await unusedPort();
    const server = await startMtlsServer(pki(), {}, t);
    const crl = path.join(pki().dir, 'export-clean.crl.pem');
    await writeFile(crl, (await pki().intermediate.crl(['10abcdef'])) + (await pki().root.crl()));
    const config = await exported(down, { target: [`127.0.0.1:${down}`, `127.0.0.1:${server.port}`], crl, closeTimeoutMs: 5000 });
    const text = exportTunnel(config, 'stunnel').text;
    assert.ok(text.includes('failover = prio') && text.includes('CRLfile = ') && text.includes('TIMEOUTclose = 5'), text);
    const daemon = await runStunnel(t, config);
    const client = await connectLocal(t, config.listen.port);
    assert.equal(await echoOnce(client, 'ping past the first target'), 'ping past the first target');
    assert.deepEqual(server.clients, ['alice']);
    // stunnel tried the first one and logged its refusal before moving on.
    await until(() => new RegExp(`127\\.0\\.0\\.1:${down}`).test(daemon.log), 5000, 'stunnel to log the first target');
    assert.match(daemon.log, /Connection refused/);
  });

  test('protocol postgres: stunnel sends the SSLRequest, then TLS, then the bytes', { timeout: 30_000 }, async (t) => {
    const preambles: Buffer[] = [];
    const backend = await startMtlsServer(pki(), {
      preamble: async (raw) => {
        raw.pause();
        const head = await readBytes(raw, 8, 5000);
        preambles.push(head);
        if (!head.equals(SSL_REQUEST)) return false;
        raw.write('S');
        return true;
      },
    }, t);
    const config = await exported(backend.port, { protocol: 'postgres' });
    await runStunnel(t, config);
    const client = await connectLocal(t, config.listen.port);
    assert.equal(await echoOnce(client, 'startup message, as with sslmode=disable'), 'startup message, as with sslmode=disable');
    assert.deepEqual(preambles, [SSL_REQUEST]);
    assert.deepEqual(backend.clients, ['alice']);
  });
});
