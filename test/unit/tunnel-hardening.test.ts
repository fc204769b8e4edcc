/**
 * Lifecycle hardening and the connection log: a reload that throws (a closed log channel) is not
 * an unhandled rejection; a reload that finishes after stop() applies nothing; an explained
 * failure leaves no timer behind once its client has gone; lines a logger's level filters out
 * are never built; connections are logged at info (opened, closed with their byte counts) and
 * handshake details at debug, without a payload byte.
 */
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Logger, LogLevel } from '../../src/core/log';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { tunnelConfig } from '../support/tunnels';
import { closed, connectLocal, echoOnce, readToEnd, recordingLogger, startTunnel, tunnelPort, until } from '../support/tunnelKit';
import { makePki } from '../support/pkiFixture';
import { unusedPort } from '../support/ports';
import { startMtlsServer } from '../support/mtlsServer';

// The server's default handler echoes.
const echo = {};
const STARTUP = Buffer.from([0, 0, 0, 8, 0, 3, 0, 0]);

describe('tunnel lifecycle hardening', () => {
  let pki: ThrowawayPki;
  let dispose: () => Promise<void>;
  before(async () => ({ pki, dispose } = await makePki()));
  after(() => dispose());

  test('a reload whose logging throws (a closed output channel) is not an unhandled rejection', { timeout: 15_000 }, async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-closed-log-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const cert = path.join(dir, 'client.crt');
    await copyFile(pki.client.cert, cert);
    let closedChannel = false;
    let attempts = 0;
    const fail = (m: string) => {
      if (!closedChannel) return;
      attempts++;
      throw new Error(`Channel has been closed (${m.length} chars)`);
    };
    const logger: Logger = { trace: fail, debug: fail, info: fail, warn: fail, error: fail };
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    t.after(() => process.off('unhandledRejection', onRejection));
    const backend = await startMtlsServer(pki, echo, t);
    await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'closed-log', cert }), { watchCredentials: true, logger });
    closedChannel = true;
    await copyFile(pki.client.cert, `${cert}.new`);
    await rename(`${cert}.new`, cert);
    await until(() => attempts >= 1, 5000, 'the reload to try to log');
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    closedChannel = false; // the test's own cleanup logs too
    assert.deepEqual(rejections, [], 'the failed reload became an unhandled rejection');
    assert.ok(attempts >= 2, 'the failure was caught (and its own line tried)');
  });

  test('a reload that finishes after stop() applies nothing and says nothing', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'late-reload' }));
    let reloaded = 0;
    tunnel.on('credentialsReloaded', () => reloaded++);
    const reload = tunnel.reloadCredentials();
    const stopping = tunnel.stop();
    assert.equal(await reload, false);
    await stopping;
    assert.equal(reloaded, 0);
    assert.equal(tunnel.state, 'stopped');
  });

  test('reloads and settings changes run one at a time, in order, the latest settings winning', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'serial' }));
    const order: string[] = [];
    tunnel.on('credentialsReloaded', () => order.push('reload'));
    tunnel.on('reconfigured', (c) => order.push(`settings ${c.connectTimeoutMs}`));
    const results = await Promise.all([
      tunnel.reloadCredentials(),
      tunnel.reconfigure(tunnelConfig(pki, backend.port, { name: 'serial', connectTimeoutMs: 1111 })),
      tunnel.reloadCredentials(),
    ]);
    assert.deepEqual(results, [true, true, true]);
    assert.deepEqual(order, ['reload', 'settings 1111', 'reload']);
    assert.equal(tunnel.config.connectTimeoutMs, 1111);
  });

  test('an explained failure leaves no timer behind once its client has gone', { timeout: 15_000 }, async (t) => {
    // Timers of EXPLANATION_GRACE_MS (2000 ms) still alive, as async_hooks sees them.
    const alive = new Set<number>();
    const hook = createHook({
      init(id, type, _trigger, resource) {
        if (type === 'Timeout' && (resource as { _idleTimeout?: number })._idleTimeout === 2000) alive.add(id);
      },
      destroy(id) {
        alive.delete(id);
      },
    }).enable();
    t.after(() => hook.disable());
    const nobody = await unusedPort();
    const tunnel = await startTunnel(t, tunnelConfig(pki, nobody, { name: 'explains', protocol: 'postgres', connectTimeoutMs: 500 }));
    for (let i = 0; i < 10; i++) {
      const c = await connectLocal(t, tunnelPort(tunnel));
      c.write(STARTUP);
      const reply = await readToEnd(c, 5000);
      assert.equal(String.fromCharCode(reply.data![0]), 'E', 'the client hears why (an ErrorResponse)');
      c.destroy();
      await closed(c, 3000);
    }
    await until(() => tunnel.counts().openConnections === 0, 5000, 'the tunnel to let go of every client');
    await new Promise((r) => setImmediate(r));
    assert.equal(alive.size, 0, `${alive.size} release timer(s) still pending after their clients left`);
  });
});

describe('the connection log', () => {
  let pki: ThrowawayPki;
  let dispose: () => Promise<void>;
  before(async () => ({ pki, dispose } = await makePki()));
  after(() => dispose());

  test('opened and closed at info with byte counts; the handshake at debug; no payload', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'logs' }), { logger });
    const c = await connectLocal(t, tunnelPort(tunnel));
    const local = `${c.localAddress}:${c.localPort}`;
    const payload = 'payload-never-logged-0123456789';
    assert.equal(await echoOnce(c, payload), payload);
    c.end();
    await readToEnd(c, 3000);
    await until(() => logger.lines.some((l) => l.includes('#1 closed')), 3000, 'the close to be logged');
    assert.ok(logger.lines.includes(`info [logs] #1 opened from ${local}`), logger.lines.join('\n'));
    assert.ok(logger.lines.some((l) => /^info \[logs\] #1 closed after \d+\.\d s: 31 B up, 31 B down$/.test(l)), logger.lines.join('\n'));
    assert.ok(logger.lines.some((l) => /^debug \[logs\] #1 handshake: TLSv1\.3, TLS_\w+$/.test(l)), logger.lines.join('\n'));
    assert.equal(logger.lines.filter((l) => l.includes(payload)).length, 0, 'no payload in the log');
  });

  test('at info level no debug line is built, not even passed to the logger', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const calls: Record<string, number> = { trace: 0, debug: 0, info: 0 };
    const count = (level: string) => () => void calls[level]++;
    const logger: Logger = { trace: count('trace'), debug: count('debug'), info: count('info'), warn() {}, error() {}, logLevel: LogLevel.Info };
    const tunnel = await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'quiet' }), { logger });
    for (let i = 0; i < 5; i++) {
      const c = await connectLocal(t, tunnelPort(tunnel));
      assert.equal(await echoOnce(c, 'x'), 'x');
      c.destroy();
      await closed(c, 3000);
    }
    await until(() => tunnel.counts().openConnections === 0, 3000, 'every connection to close');
    assert.equal(calls.debug, 0);
    assert.equal(calls.trace, 0);
    assert.ok(calls.info >= 10, `opens and closes logged at info (${calls.info})`);
  });
});
