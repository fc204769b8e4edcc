/**
 * Client credentials: a start fails fast, before listening, with the right diagnosis code and
 * field for each way the files can be wrong; PKCS#12 and encrypted keys work with their
 * passphrase, which never reaches a log line; replacing the files on disk switches new
 * connections to the new identity, and replacing them with garbage keeps the last good one.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, test, TestContext } from 'node:test';
import { TunnelConfig } from '../../src/core/config/model';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { PkiFiles, writePkcs12 } from '../../src/core/pki/testPki';
import { Tunnel, TunnelStartError } from '../../src/core/tunnel/tunnel';
import { startMtlsServer } from '../support/mtlsServer';
import { listenLocal } from '../support/ports';
import { tunnelConfig } from '../support/tunnels';
import {
  closed, connectLocal, echoOnce, recordingLogger, startTunnel, tunnelPort, until, within,
} from '../support/tunnelKit';
import { liveCredentials, withPki } from '../support/pkiFixture';

const PASSPHRASE = 'Tr0ub4dor&3-never-in-logs';

/**
 * A TCP relay to `port`. On its first connection it holds what the server sends after the
 * client's second flight (in TLS 1.3: the session tickets) until `release()`, then delivers it.
 */
async function ticketHoldingRelay(t: TestContext, port: number) {
  let first = true;
  let onHolding!: () => void;
  let release!: () => void;
  const holding = new Promise<void>((resolve) => (onHolding = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (down) => {
    const hold = first;
    first = false;
    const up = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => {
        down.destroy();
        up.destroy();
      });
    }
    let clientFlights = 0;
    let state: 'passing' | 'holding' | 'released' = 'passing';
    const queue: Buffer[] = [];
    let upEnded = false;
    down.on('data', (d: Buffer) => {
      clientFlights++;
      up.write(d);
    });
    down.on('end', () => up.end());
    up.on('data', (d: Buffer) => {
      if (hold && state === 'passing' && clientFlights >= 2) {
        state = 'holding';
        onHolding();
        void released.then(() => {
          state = 'released';
          for (const b of queue) down.write(b);
          if (upEnded) down.end();
        });
      }
      if (state === 'holding') queue.push(d);
      else down.write(d);
    });
    up.on('end', () => {
      upEnded = true;
      if (state !== 'holding') down.end();
    });
  });
  await listenLocal(server);
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return { port: (server.address() as net.AddressInfo).port, holding, release };
}

describe('tunnel credentials', () => {
  const pki = withPki();
  let n = 0;
  /** A fresh file name in the PKI folder. */
  const file = (name: string) => path.join(pki().dir, `${++n}-${name}`);


  /** Starts a tunnel expected to fail; returns the TunnelStartError after checking it failed fast. */
  async function startFails(t: TestContext, config: TunnelConfig, passphrase?: string): Promise<TunnelStartError> {
    const tunnel = new Tunnel(config, { watchCredentials: false, passphrase });
    t.after(() => tunnel.stop());
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const states: string[] = [];
    tunnel.on('state', (s: string) => states.push(s));
    const error = await within(tunnel.start().then(() => undefined, (e: unknown) => e), 2000, 'start to fail');
    assert.ok(error instanceof TunnelStartError, `expected a TunnelStartError, got ${String(error)}`);
    assert.ok(!states.includes('running'), `fails before it runs (states: ${states.join(' → ')})`);
    assert.equal(tunnel.state, 'error');
    assert.equal(tunnel.address(), undefined, 'never listened');
    assert.match(error.message, new RegExp(`^Tunnel "${config.name}"`));
    assert.deepEqual(diagnoses.map((d) => d.code), [error.diagnosis.code], 'the failure is also reported as a diagnosis');
    assert.ok(!error.message.includes(PASSPHRASE) && !JSON.stringify(error.diagnosis).includes(PASSPHRASE));
    return error;
  }

  function encryptKey(identity: PkiFiles, passphrase: string): string {
    const out = file('encrypted.key');
    execFileSync('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', identity.key, '-out', out, '-passout', `pass:${passphrase}`]);
    return out;
  }

  test('missing cert, key or ca file: FILE_MISSING on that field', { timeout: 10_000 }, async (t) => {
    const nowhere = path.join(pki().dir, 'does-not-exist.pem');
    for (const field of ['cert', 'key', 'ca'] as const) {
      const error = await startFails(t, tunnelConfig(pki(), 1, { name: `missing-${field}`, [field]: nowhere }));
      assert.equal(error.diagnosis.code, 'FILE_MISSING', field);
      assert.equal(error.field, field);
      assert.ok(error.message.includes(nowhere), error.message);
    }
  });

  test('a PEM with garbage: PEM_MALFORMED on that field', { timeout: 10_000 }, async (t) => {
    const garbage = file('garbage.crt');
    await writeFile(garbage, 'this is not a certificate\n');
    const brokenBlock = file('broken-block.crt');
    await writeFile(brokenBlock, '-----BEGIN CERTIFICATE-----\nTUlJQmdhcmJhZ2U=\n-----END CERTIFICATE-----\n');
    const keyAsCert = pki().client.key;
    for (const [name, overrides, field] of [
      ['garbage-cert', { cert: garbage }, 'cert'],
      ['broken-block', { cert: brokenBlock }, 'cert'],
      ['key-as-cert', { cert: keyAsCert }, 'cert'],
      ['garbage-key', { key: garbage }, 'key'],
      ['garbage-ca', { ca: garbage }, 'ca'],
    ] as const) {
      const error = await startFails(t, tunnelConfig(pki(), 1, { name, ...overrides }));
      assert.equal(error.diagnosis.code, 'PEM_MALFORMED', name);
      assert.equal(error.field, field, name);
    }
  });

  test('a key that does not belong to the certificate: KEY_CERT_MISMATCH on "key"', { timeout: 10_000 }, async (t) => {
    const error = await startFails(t, tunnelConfig(pki(), 1, { name: 'mismatch', cert: pki().client.cert, key: pki().server.key }));
    assert.equal(error.diagnosis.code, 'KEY_CERT_MISMATCH');
    assert.equal(error.field, 'key');
    assert.match(error.message, /CN=alice/);
    const rsa = await startFails(t, tunnelConfig(pki(), 1, { name: 'mismatch-rsa', cert: pki().rsaClient.cert, key: pki().ed25519Client.key }));
    assert.equal(rsa.diagnosis.code, 'KEY_CERT_MISMATCH');
  });

  test('PKCS#12: a wrong or missing passphrase fails on "pfx"; the right one works end to end', { timeout: 15_000 }, async (t) => {
    const pfx = await writePkcs12(file('client.p12'), pki().rsaClient, PASSPHRASE);
    const config = (name: string) => tunnelConfig(pki(), server.port, { name, cert: undefined, key: undefined, pfx, ca: pki().rsaCa });
    const server = await startMtlsServer(pki(), { identity: pki().rsaServer, clientCa: pki().rsaCa });
    t.after(() => server.close());

    const wrong = await startFails(t, config('p12-wrong'), 'not the passphrase');
    assert.equal(wrong.diagnosis.code, 'WRONG_PASSPHRASE');
    assert.equal(wrong.field, 'pfx');
    const none = await startFails(t, config('p12-none'));
    assert.equal(none.diagnosis.code, 'PASSPHRASE_REQUIRED');
    assert.equal(none.field, 'pfx');
    const notP12 = await startFails(t, tunnelConfig(pki(), 1, { name: 'p12-pem', cert: undefined, key: undefined, pfx: pki().client.cert }), PASSPHRASE);
    assert.equal(notP12.diagnosis.code, 'PEM_MALFORMED');
    assert.equal(notP12.field, 'pfx');

    const tunnel = await startTunnel(t, config('p12'), { passphrase: PASSPHRASE });
    const c = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(c, 'from a p12'), 'from a p12');
    assert.deepEqual(server.clients, ['alice']);
  });

  test('an encrypted PEM key: PASSPHRASE_REQUIRED without one, WRONG_PASSPHRASE with a wrong one, works with the right one', { timeout: 15_000 }, async (t) => {
    const key = encryptKey(pki().client, PASSPHRASE);
    assert.match(await readFile(key, 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
    const none = await startFails(t, tunnelConfig(pki(), 1, { name: 'enc-none', key }));
    assert.equal(none.diagnosis.code, 'PASSPHRASE_REQUIRED');
    assert.equal(none.field, 'key');
    const wrong = await startFails(t, tunnelConfig(pki(), 1, { name: 'enc-wrong', key }), 'wrong');
    assert.equal(wrong.diagnosis.code, 'WRONG_PASSPHRASE');
    assert.equal(wrong.field, 'key');

    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'enc', key }), { passphrase: PASSPHRASE });
    const c = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(c, 'encrypted key'), 'encrypted key');
    assert.deepEqual(echo.clients, ['alice']);
  });

  test('the passphrase never appears in a log line, a diagnosis or an error', { timeout: 15_000 }, async (t) => {
    const logger = recordingLogger();
    const seen: string[] = [];
    const record = (tunnel: Tunnel) => tunnel.on('diagnosis', (d) => seen.push(JSON.stringify(d)));
    const pfx = await writePkcs12(file('client.p12'), pki().rsaClient, PASSPHRASE);
    const encrypted = encryptKey(pki().client, PASSPHRASE);
    const rsaServer = await startMtlsServer(pki(), { identity: pki().rsaServer, clientCa: pki().rsaCa });
    t.after(() => rsaServer.close());
    const echo = await startMtlsServer(pki());
    t.after(() => echo.close());

    // Working tunnels, with every level logged, a connection each and a reload.
    const p12 = new Tunnel(tunnelConfig(pki(), rsaServer.port, { name: 'p12', cert: undefined, key: undefined, pfx, ca: pki().rsaCa }), { logger, passphrase: PASSPHRASE, watchCredentials: false });
    const enc = new Tunnel(tunnelConfig(pki(), echo.port, { name: 'enc', key: encrypted }), { logger, passphrase: PASSPHRASE, watchCredentials: false });
    for (const tunnel of [p12, enc]) {
      record(tunnel);
      t.after(() => tunnel.stop());
      await tunnel.start();
      const c = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(c, 'hi'), 'hi');
      assert.equal(await tunnel.reloadCredentials(), true);
      c.end();
      await closed(c, 3000);
    }
    // Failing ones: a passphrase that is wrong for this file but right-looking.
    for (const [name, overrides] of [['p12-bad', { cert: undefined, key: undefined, pfx: pki().client.cert }], ['enc-bad', { key: encryptKey(pki().client, 'other') }]] as const) {
      const tunnel = new Tunnel(tunnelConfig(pki(), 1, { name, ...overrides }), { logger, passphrase: PASSPHRASE, watchCredentials: false });
      record(tunnel);
      t.after(() => tunnel.stop());
      const error = await tunnel.start().then(() => undefined, (e: Error) => e);
      assert.ok(error);
      seen.push(error.message, error.stack ?? '');
    }
    await Promise.all([p12.stop(), enc.stop()]);

    assert.ok(logger.lines.length >= 6, `something was logged: ${logger.lines.length} lines`);
    assert.ok(logger.lines.some((l) => l.startsWith('info [p12] credentials reloaded')));
    const leaks = [...logger.lines, ...seen].filter((l) => l.includes(PASSPHRASE) || l.includes('Tr0ub4dor'));
    assert.deepEqual(leaks, []);
  });

  describe('reload', () => {
    test('new files on disk: new connections present the new identity, an open one keeps working', { timeout: 20_000 }, async (t) => {
      const echo = await startMtlsServer(pki());
      t.after(() => echo.close());
      const live = await liveCredentials(pki(), pki().client);
      const tunnel = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'renewed', cert: live.cert, key: live.key }), { watchCredentials: true });
      const reloads: string[] = [];
      tunnel.on('credentialsReloaded', (d) => reloads.push(d));

      const open = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(open, 'as alice'), 'as alice');
      assert.deepEqual(echo.clients, ['alice']);

      const bob = await pki().intermediate.issue({ commonName: 'bob', usage: 'client' });
      await live.renameOver(bob.chainPem, bob.keyPem);
      await until(() => reloads.some((d) => d.includes('CN=bob')), 5000, 'the reload to bob');
      assert.match(tunnel.snapshot().credentials ?? '', /CN=bob/);

      const fresh = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(fresh, 'as bob'), 'as bob');
      assert.deepEqual(echo.clients, ['alice', 'bob']);
      assert.equal(await echoOnce(open, 'still alice'), 'still alice');
      assert.equal(tunnel.snapshot().openConnections, 2);
    });

    test('a session ticket that arrives after a reload is not reused: new connections present the new identity', { timeout: 20_000 }, async (t) => {
      // TLS 1.3 servers send session tickets after the handshake. A connection made just before a
      // reload receives its ticket just after it; resuming that session would present the old
      // certificate. A relay holds the tickets of the first connection to make that moment last.
      const echo = await startMtlsServer(pki(), { minVersion: 'TLSv1.3' });
      t.after(() => echo.close());
      const relay = await ticketHoldingRelay(t, echo.port);
      const live = await liveCredentials(pki(), pki().client);
      const tunnel = await startTunnel(t, tunnelConfig(pki(), relay.port, { name: 'late-ticket', cert: live.cert, key: live.key }));

      const bob = await pki().intermediate.issue({ commonName: 'bob', usage: 'client' });
      const first = await connectLocal(t, tunnelPort(tunnel));
      await within(relay.holding, 5000, 'the session tickets to be held');
      await live.renameOver(bob.chainPem, bob.keyPem);
      assert.equal(await tunnel.reloadCredentials(), true);
      // The tickets of alice's session arrive only now, after the reload to bob.
      relay.release();
      assert.equal(await echoOnce(first, 'alice, open before the reload'), 'alice, open before the reload');

      const second = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(second, 'bob'), 'bob');
      assert.deepEqual(echo.clients, ['alice', 'bob']);
      assert.equal(tunnel.snapshot().lastHandshake?.resumed, false);
    });

    test('garbage on disk: the last good identity is kept and a warning names the tunnel', { timeout: 20_000 }, async (t) => {
      const echo = await startMtlsServer(pki());
      t.after(() => echo.close());
      const live = await liveCredentials(pki(), pki().client);
      const logger = recordingLogger();
      const tunnel = await startTunnel(t, tunnelConfig(pki(), echo.port, { name: 'broken-renewal', cert: live.cert, key: live.key }), { watchCredentials: true, logger });
      const diagnoses: Diagnosis[] = [];
      tunnel.on('diagnosis', (d) => diagnoses.push(d));
      const reloads: string[] = [];
      tunnel.on('credentialsReloaded', (d) => reloads.push(d));

      const bob = await pki().intermediate.issue({ commonName: 'bob', usage: 'client' });
      await live.renameOver(bob.chainPem, bob.keyPem);
      await until(() => reloads.some((d) => d.includes('CN=bob')), 5000, 'the reload to bob');
      const asBob = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(asBob, 'bob'), 'bob');

      await live.renameOver('-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n', 'not a key either\n');
      await until(() => diagnoses.some((d) => d.severity === 'warning'), 5000, 'a warning about the broken files');
      const warning = diagnoses.find((d) => d.severity === 'warning')!;
      assert.equal(warning.code, 'PEM_MALFORMED');
      assert.match(warning.summary, /^Tunnel "broken-renewal": /);
      assert.match(warning.fix, /keeps using the credentials loaded before/);
      assert.ok(logger.lines.some((l) => l.startsWith('warn [broken-renewal] Tunnel "broken-renewal"')), 'the warning is logged');
      assert.equal(reloads.length, 1, 'no reload to the broken files');
      assert.match(tunnel.snapshot().credentials ?? '', /CN=bob/);
      assert.equal(tunnel.state, 'running');

      const after = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(after, 'still bob'), 'still bob');
      assert.deepEqual(echo.clients, ['bob', 'bob'], 'both connections after the reload present bob');
      assert.equal(await echoOnce(asBob, 'bob again'), 'bob again');
    });
  });
});
