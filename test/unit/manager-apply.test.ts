/**
 * The manager applies changed settings without cutting live sessions, and reconciles the desired
 * state: a changed running tunnel keeps its Tunnel and its open connections while new ones use
 * the new settings; a wanted tunnel in error is started again when its settings change or its
 * credential files are fixed on disk, and the success clears its failure.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test, TestContext } from 'node:test';
import { TunnelConfig } from '../../src/core/config/model';
import { TunnelManager } from '../../src/core/manager';
import { CredentialWatchOptions } from '../../src/core/tunnel/credentialWatcher';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { tunnelConfig } from '../support/tunnels';
import { connectLocal, echoOnce, within } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';
import { startMtlsServer } from '../support/mtlsServer';

// The server's default handler echoes.
const echo = {};

function managerFor(t: TestContext, configs: TunnelConfig[], watchCredentials: boolean | CredentialWatchOptions = false): TunnelManager {
  const manager = new TunnelManager({ watchCredentials, drainTimeoutMs: 100 });
  manager.apply(configs);
  t.after(() => manager.dispose());
  return manager;
}

/** Resolves once `check` holds, looking again on every 'changed' event. */
function whenChanged(manager: TunnelManager, check: () => boolean, what: string, ms = 5000): Promise<void> {
  return within(new Promise<void>((resolve) => {
    if (check()) return resolve();
    const look = () => {
      if (!check()) return;
      manager.off('changed', look);
      resolve();
    };
    manager.on('changed', look);
  }), ms, what);
}

describe('the manager applies settings to running tunnels', () => {
  // Two PKIs: a second server's certificate comes from a CA the first settings do not trust.
  const ours = withPki();
  const theirs = withPki();
  let pki: ThrowawayPki;
  let other: ThrowawayPki;
  before(async () => {
    [pki, other] = await Promise.all([ours.ready(), theirs.ready()]);
  });

  test('a changed ca and target keep the Tunnel and its open connection; new connections use them', { timeout: 15_000 }, async (t) => {
    const first = await startMtlsServer(pki, echo, t);
    const second = await startMtlsServer(pki, { ...echo, identity: other.server }, t);
    const manager = managerFor(t, [tunnelConfig(pki, first.port, { name: 'db' })]);
    await manager.start('db');
    const tunnel = manager.tunnel('db');
    const port = manager.entry('db')!.address.port;
    const open = await connectLocal(t, port);
    assert.equal(await echoOnce(open, 'before'), 'before');

    const changed = tunnelConfig(other, second.port, { name: 'db', cert: pki.client.cert, key: pki.client.key });
    const result = manager.apply([changed]);
    assert.deepEqual(result.changed, ['db']);
    await whenChanged(manager, () => manager.tunnel('db')?.config.target.port === second.port, 'the new settings to apply');

    assert.equal(manager.tunnel('db'), tunnel, 'the same Tunnel: not restarted');
    assert.equal(manager.entry('db')!.state, 'running');
    assert.equal(manager.entry('db')!.config, changed);
    const fresh = await connectLocal(t, port);
    assert.equal(await echoOnce(fresh, 'new'), 'new');
    assert.equal(second.accepted, 1);
    assert.equal(await echoOnce(open, 'after'), 'after', 'the open connection survived the change');
    assert.equal(manager.entry('db')!.counts?.openConnections, 2);
  });

  test('a wanted tunnel in error is started again when its settings change, and its failure clears', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    t.after(() => busy.close());
    const busyPort = (busy.address() as net.AddressInfo).port;
    const manager = managerFor(t, [tunnelConfig(pki, backend.port, { name: 'retry', listen: busyPort })]);
    await assert.rejects(manager.start('retry'));
    assert.equal(manager.entry('retry')!.state, 'error');
    assert.equal(manager.entry('retry')!.lastDiagnosis?.code, 'PORT_IN_USE');
    assert.equal(manager.entry('retry')!.wanted, true);

    manager.apply([tunnelConfig(pki, backend.port, { name: 'retry', listen: 0 })]);
    await whenChanged(manager, () => manager.entry('retry')!.state === 'running', 'the fixed tunnel to run');
    assert.equal(manager.entry('retry')!.lastDiagnosis, undefined, 'no stale failure after the success');
    const c = await connectLocal(t, manager.entry('retry')!.address.port);
    assert.equal(await echoOnce(c, 'fixed'), 'fixed');
  });

  test('a stopped tunnel whose settings change stays stopped, without its old failure', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const manager = managerFor(t, [tunnelConfig(pki, backend.port, { name: 'idle', key: `${pki.client.key}.missing` })]);
    await assert.rejects(manager.start('idle'));
    await manager.stop('idle');
    manager.apply([tunnelConfig(pki, backend.port, { name: 'idle' })]);
    assert.equal(manager.entry('idle')!.state, 'stopped');
    assert.equal(manager.entry('idle')!.lastDiagnosis, undefined);
    assert.equal(manager.entry('idle')!.wanted, false);
  });

  test('a wanted tunnel in error is started again when its key file is fixed on disk', { timeout: 20_000 }, async (t) => {
    const backend = await startMtlsServer(pki, echo, t);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-fix-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const key = path.join(dir, 'client.key');
    await copyFile(other.client.key, key); // a key that does not belong to the certificate
    const manager = managerFor(t, [tunnelConfig(pki, backend.port, { name: 'fixme', key })], true);
    await assert.rejects(manager.start('fixme'));
    assert.equal(manager.entry('fixme')!.state, 'error');
    assert.equal(manager.entry('fixme')!.lastDiagnosis?.code, 'KEY_CERT_MISMATCH');

    const fixed = whenChanged(manager, () => manager.entry('fixme')!.state === 'running', 'the tunnel to start once its key is fixed', 10_000);
    await copyFile(pki.client.key, `${key}.tmp`);
    await rename(`${key}.tmp`, key); // as renewal tools do: a new file renamed over the old
    await fixed;
    assert.equal(manager.entry('fixme')!.lastDiagnosis, undefined);
    const c = await connectLocal(t, manager.entry('fixme')!.address.port);
    assert.equal(await echoOnce(c, 'works'), 'works');
  });

  test('a wanted tunnel whose credential folder does not exist yet starts once it appears', { timeout: 20_000 }, async (t) => {
    // No folder, nothing to watch: the poll is what sees it arrive (a volume mounted late).
    const backend = await startMtlsServer(pki, echo, t);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-late-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const later = path.join(dir, 'secret');
    const config = tunnelConfig(pki, backend.port, { name: 'late', cert: path.join(later, 'tls.crt'), key: path.join(later, 'tls.key') });
    const manager = managerFor(t, [config], { pollMs: 50 });
    await assert.rejects(manager.start('late'));
    assert.equal(manager.entry('late')!.lastDiagnosis?.code, 'FILE_MISSING');

    const started = whenChanged(manager, () => manager.entry('late')!.state === 'running', 'the tunnel to start once its folder appears', 10_000);
    const staging = path.join(dir, 'staging');
    await mkdir(staging);
    await copyFile(pki.client.cert, path.join(staging, 'tls.crt'));
    await copyFile(pki.client.key, path.join(staging, 'tls.key'));
    await rename(staging, later);
    await started;
    const c = await connectLocal(t, manager.entry('late')!.address.port);
    assert.equal(await echoOnce(c, 'arrived'), 'arrived');
  });
});
