/**
 * Renewals written to disk the ways real tools write them reach new connections, while open ones
 * continue: Kubernetes' atomic writer (secret volumes, cert-manager), rename-over, symlinks whose
 * target moves or is rewritten, a renewal seen half written, and the polling fallback for
 * filesystems without change events. Each tunnel runs against a real mTLS server that records the
 * client certificate's CN of every connection.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describe, test, TestContext } from 'node:test';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { CredentialWatchOptions } from '../../src/core/tunnel/credentialWatcher';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { startMtlsServer } from '../support/mtlsServer';
import { liveCredentials, withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';
import { connectLocal, echoOnce, recordingLogger, RecordingLogger, startTunnel, tunnelPort, until } from '../support/tunnelKit';

const pki = withPki();

/** Change events only: what these tests show is that the events see the renewal, not the 5 s poll. */
const EVENTS_ONLY: CredentialWatchOptions = { pollMs: 0 };

/**
 * A folder as kubelet's AtomicWriter keeps a secret volume: `..data` links to a timestamped folder
 * holding the files, and each visible name links through `..data`. `update` does what a renewal
 * does: writes a new timestamped folder, links `..data_tmp` to it, renames that over `..data`, and
 * removes the old folder.
 */
async function secretVolume(parent: string, files: Record<string, string>) {
  const dir = await mkdtemp(path.join(parent, 'secret-'));
  let generation = 0;
  let current = '';
  const writeGeneration = async (contents: Record<string, string>) => {
    const stamp = `..2026_12_02_00_00_00.${String(++generation).padStart(9, '0')}`;
    await mkdir(path.join(dir, stamp));
    for (const [name, content] of Object.entries(contents)) await writeFile(path.join(dir, stamp, name), content, { mode: 0o600 });
    return stamp;
  };
  current = await writeGeneration(files);
  await symlink(current, path.join(dir, '..data'));
  for (const name of Object.keys(files)) await symlink(path.join('..data', name), path.join(dir, name));
  return {
    path: (name: string) => path.join(dir, name),
    async update(contents: Record<string, string>) {
      const old = current;
      current = await writeGeneration(contents);
      await symlink(current, path.join(dir, '..data_tmp'));
      await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await rm(path.join(dir, old), { recursive: true });
    },
  };
}

async function issue(p: ThrowawayPki, commonName: string) {
  const issued = await p.intermediate.issue({ commonName, usage: 'client' });
  return { cert: issued.chainPem, key: issued.keyPem };
}

/** A tunnel watching its files, the CNs of its reloads, and its diagnoses. */
async function watchedTunnel(t: TestContext, serverPort: number, fields: Record<string, unknown>, watch: CredentialWatchOptions, logger?: RecordingLogger) {
  const tunnel = await startTunnel(t, tunnelConfig(pki(), serverPort, { name: 'renewing', ...fields }), { watchCredentials: watch, logger });
  const reloads: string[] = [];
  const diagnoses: Diagnosis[] = [];
  tunnel.on('credentialsReloaded', (d) => reloads.push(d));
  tunnel.on('diagnosis', (d) => diagnoses.push(d));
  const reloadedTo = (cn: string) => until(() => reloads.some((d) => d.includes(`CN=${cn},`)), 10_000, `the reload to ${cn}`);
  return { tunnel, reloads, diagnoses, reloadedTo };
}

async function server(t: TestContext) {
  const s = await startMtlsServer(pki());
  t.after(() => s.close());
  return s;
}

async function say(tunnel: Tunnel, t: TestContext, what: string) {
  const socket = await connectLocal(t, tunnelPort(tunnel));
  assert.equal(await echoOnce(socket, what), what);
  return socket;
}

describe('renewals on disk', () => {
  test('a Kubernetes secret volume: each ..data swap reaches new connections; an open one continues', { timeout: 30_000 }, async (t) => {
    const echo = await server(t);
    const alice = { cert: await readFile(pki().client.cert, 'utf8'), key: await readFile(pki().client.key, 'utf8') };
    const volume = await secretVolume(pki().dir, { 'tls.crt': alice.cert, 'tls.key': alice.key, 'ca.crt': await readFile(pki().ca, 'utf8') });
    const { tunnel, reloadedTo, diagnoses } = await watchedTunnel(t, echo.port, { cert: volume.path('tls.crt'), key: volume.path('tls.key'), ca: volume.path('ca.crt') }, EVENTS_ONLY);
    const open = await say(tunnel, t, 'alice');

    const bob = await issue(pki(), 'bob');
    await volume.update({ 'tls.crt': bob.cert, 'tls.key': bob.key, 'ca.crt': await readFile(pki().ca, 'utf8') });
    await reloadedTo('bob');
    await say(tunnel, t, 'bob');

    // The folder the files resolved to before is gone: the second renewal is seen through the new one.
    const carol = await issue(pki(), 'carol');
    await volume.update({ 'tls.crt': carol.cert, 'tls.key': carol.key, 'ca.crt': await readFile(pki().ca, 'utf8') });
    await reloadedTo('carol');
    await say(tunnel, t, 'carol');

    assert.deepEqual(echo.clients, ['alice', 'bob', 'carol']);
    assert.equal(await echoOnce(open, 'alice, still open'), 'alice, still open');
    assert.deepEqual(diagnoses, [], 'no failure was shown');
  });

  test('a file replaced by rename (mv new cert.pem) reaches new connections through change events', { timeout: 20_000 }, async (t) => {
    const echo = await server(t);
    const live = await liveCredentials(pki(), pki().client);
    const { tunnel, reloadedTo } = await watchedTunnel(t, echo.port, { cert: live.cert, key: live.key }, EVENTS_ONLY);
    const open = await say(tunnel, t, 'alice');
    const bob = await issue(pki(), 'bob');
    await live.renameOver(bob.cert, bob.key);
    await reloadedTo('bob');
    await say(tunnel, t, 'bob');
    assert.deepEqual(echo.clients, ['alice', 'bob']);
    assert.equal(await echoOnce(open, 'alice, still open'), 'alice, still open');
  });

  test('symlinked files: a link moved to a new target, then the target rewritten in place', { timeout: 30_000 }, async (t) => {
    // certbot's layout: live/ holds links into archive/, moved to each new file on renewal.
    const echo = await server(t);
    const root = await mkdtemp(path.join(pki().dir, 'links-'));
    const live = path.join(root, 'live');
    const archive = path.join(root, 'archive');
    await mkdir(live);
    await mkdir(archive);
    const alice = { cert: await readFile(pki().client.cert, 'utf8'), key: await readFile(pki().client.key, 'utf8') };
    await writeFile(path.join(archive, 'cert1.pem'), alice.cert);
    await writeFile(path.join(archive, 'key1.pem'), alice.key);
    await symlink(path.join('..', 'archive', 'cert1.pem'), path.join(live, 'cert.pem'));
    await symlink(path.join('..', 'archive', 'key1.pem'), path.join(live, 'key.pem'));
    const { tunnel, reloadedTo } = await watchedTunnel(t, echo.port, { cert: path.join(live, 'cert.pem'), key: path.join(live, 'key.pem') }, EVENTS_ONLY);
    const open = await say(tunnel, t, 'alice');

    const bob = await issue(pki(), 'bob');
    await writeFile(path.join(archive, 'cert2.pem'), bob.cert);
    await writeFile(path.join(archive, 'key2.pem'), bob.key);
    for (const [file, target] of [['key.pem', 'key2.pem'], ['cert.pem', 'cert2.pem']]) {
      await symlink(path.join('..', 'archive', target), path.join(live, `${file}.new`));
      await rename(path.join(live, `${file}.new`), path.join(live, file));
    }
    await reloadedTo('bob');
    await say(tunnel, t, 'bob');

    // Only the files behind the links change now, in a folder the configured paths do not name.
    const carol = await issue(pki(), 'carol');
    await writeFile(path.join(archive, 'key2.pem'), carol.key);
    await writeFile(path.join(archive, 'cert2.pem'), carol.cert);
    await reloadedTo('carol');
    await say(tunnel, t, 'carol');

    assert.deepEqual(echo.clients, ['alice', 'bob', 'carol']);
    assert.equal(await echoOnce(open, 'alice, still open'), 'alice, still open');
  });

  test('a renewal seen half written (new cert, old key) is tried again, not shown as a failure', { timeout: 20_000 }, async (t) => {
    const echo = await server(t);
    const live = await liveCredentials(pki(), pki().client);
    const logger = recordingLogger();
    const { tunnel, reloadedTo, reloads, diagnoses } = await watchedTunnel(t, echo.port, { cert: live.cert, key: live.key }, EVENTS_ONLY, logger);
    const bob = await issue(pki(), 'bob');
    await writeFile(`${live.cert}.tmp`, bob.cert);
    await rename(`${live.cert}.tmp`, live.cert);
    await until(() => logger.lines.some((l) => /do not load yet \(KEY_CERT_MISMATCH\)/.test(l)), 10_000, 'the reload to see cert and key apart');
    await writeFile(`${live.key}.tmp`, bob.key);
    await rename(`${live.key}.tmp`, live.key);
    await reloadedTo('bob');
    await say(tunnel, t, 'bob');
    assert.deepEqual(diagnoses, [], 'the half-written moment was never shown');
    assert.ok(reloads.every((d) => d.includes('CN=bob,')), `only bob was loaded: ${reloads.join('; ')}`);
    assert.deepEqual(echo.clients, ['bob']);
  });

  test('a file rewritten with the same bytes (touched, or a renewal already taken) is not a reload', { timeout: 20_000 }, async (t) => {
    const echo = await server(t);
    const live = await liveCredentials(pki(), pki().client);
    const logger = recordingLogger();
    const { tunnel, reloads, diagnoses } = await watchedTunnel(t, echo.port, { cert: live.cert, key: live.key }, EVENTS_ONLY, logger);
    const same = await readFile(live.cert);
    await writeFile(`${live.cert}.tmp`, same);
    await rename(`${live.cert}.tmp`, live.cert);
    await until(() => logger.lines.some((l) => /hold the credentials already in use/.test(l)), 10_000, 'the reload to find the same credentials');
    assert.deepEqual(reloads, [], 'no credentialsReloaded for the same bytes');
    assert.deepEqual(diagnoses, []);
    await say(tunnel, t, 'alice');
    assert.deepEqual(echo.clients, ['alice']);
  });

  test('without change events (a network share) the poll sees a renewal', { timeout: 20_000 }, async (t) => {
    const echo = await server(t);
    const live = await liveCredentials(pki(), pki().client);
    const { tunnel, reloadedTo } = await watchedTunnel(t, echo.port, { cert: live.cert, key: live.key }, { events: false, pollMs: 50 });
    const bob = await issue(pki(), 'bob');
    await live.renameOver(bob.cert, bob.key);
    await reloadedTo('bob');
    await say(tunnel, t, 'bob');
    assert.deepEqual(echo.clients, ['bob']);
  });
});

describe('a combined PEM (certificates and key in one file) as cert alone', () => {
  test('carries traffic as that identity, and its renewal is picked up', { timeout: 20_000 }, async (t) => {
    const echo = await server(t);
    const dir = await mkdtemp(path.join(pki().dir, 'combined-'));
    const file = path.join(dir, 'client.pem');
    await writeFile(file, (await readFile(pki().client.cert, 'utf8')) + (await readFile(pki().client.key, 'utf8')));
    const { tunnel, reloadedTo } = await watchedTunnel(t, echo.port, { cert: file, key: undefined }, EVENTS_ONLY);
    assert.equal(tunnel.config.key, undefined);
    const open = await say(tunnel, t, 'alice from one file');

    // Key first this time, as some tools write it.
    const bob = await issue(pki(), 'bob');
    await writeFile(`${file}.tmp`, bob.key + bob.cert);
    await rename(`${file}.tmp`, file);
    await reloadedTo('bob');
    await say(tunnel, t, 'bob from one file');
    assert.deepEqual(echo.clients, ['alice', 'bob']);
    assert.equal(await echoOnce(open, 'alice, still open'), 'alice, still open');
  });

  test('a cert file without a key, and no key set: the start fails naming cert', async () => {
    const tunnel = new Tunnel(tunnelConfig(pki(), 1, { name: 'keyless', key: undefined }), { watchCredentials: false });
    await assert.rejects(tunnel.start(), (e: { field?: string; diagnosis?: Diagnosis }) => {
      assert.equal(e.field, 'cert');
      assert.equal(e.diagnosis?.code, 'PEM_MALFORMED');
      assert.equal(e.diagnosis?.summary, `Tunnel "keyless": the cert file ${pki().client.cert} holds no private key, and "key" is not set.`);
      assert.match(e.diagnosis?.fix ?? '', /Set "key" to the certificate's private key file, or append the key to /);
      return true;
    });
    assert.equal(tunnel.state, 'error');
  });

  test('a combined file whose key belongs to another certificate names cert', async () => {
    const dir = await mkdtemp(path.join(pki().dir, 'combined-'));
    const file = path.join(dir, 'mixed.pem');
    await writeFile(file, (await readFile(pki().client.cert, 'utf8')) + (await readFile(pki().rogueClient.key, 'utf8')));
    const tunnel = new Tunnel(tunnelConfig(pki(), 1, { name: 'mixed', cert: file, key: undefined }), { watchCredentials: false });
    await assert.rejects(tunnel.start(), (e: { field?: string; diagnosis?: Diagnosis }) => {
      assert.equal(e.field, 'cert');
      assert.equal(e.diagnosis?.code, 'KEY_CERT_MISMATCH');
      assert.match(e.diagnosis?.summary ?? '', new RegExp(`the private key in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not belong to the certificate`));
      return true;
    });
  });
});
