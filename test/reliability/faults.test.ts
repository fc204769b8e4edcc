/**
 * Faults under traffic. Each one hits some connections while a long-lived connection on the same
 * tunnel (or, when the fault takes the whole target down, on another one) keeps ping-ponging,
 * byte-checked, and a second tunnel keeps serving; afterwards nothing is left open.
 * Complements test/unit/tunnel-faults.test.ts (one reset, one vanishing client, a target that was
 * never up, one silent backend) with storms, concurrency and certificate rotation under load.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { describe, test, TestContext } from 'node:test';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { tunnelConfig } from '../support/tunnels';
import {
  closed, connectLocal, echoOnce, readBytes, readToEnd, sleep, startTunnel, tunnelPort, until, writeAll,
} from '../support/tunnelKit';
import { liveCredentials, withPki } from '../support/pkiFixture';
import {
  Bystander, certificateId, inWaves, resourceLevel, backToBaseline, ScriptedBackend, seededBytes, sha256Hex, startScriptedBackend, whoami,
} from './kit';

/** Diagnoses a tunnel reports, by code. */
function recordDiagnoses(tunnel: Tunnel): Diagnosis[] {
  const seen: Diagnosis[] = [];
  tunnel.on('diagnosis', (d) => seen.push(d));
  return seen;
}

function failures(tunnel: Tunnel): number {
  return Object.values(tunnel.snapshot().handshakesFailed).reduce((a, b) => a + (b ?? 0), 0);
}

/** A local connection that the tunnel must close without passing a single byte. */
async function turnedAway(t: TestContext, port: number): Promise<number> {
  const c = await connectLocal(t, port);
  let received = 0;
  c.on('data', (d: Buffer) => (received += d.length));
  c.write('echo\nanyone there?');
  await closed(c, 15_000);
  return received;
}

describe('faults under traffic', () => {
  const pki = withPki();

  /** A backend, tunnel "first" and tunnel "second" to it, and a bystander on each. */
  async function scene(t: TestContext, firstOverrides: Record<string, unknown> = {}) {
    const backend = await startScriptedBackend(t, pki());
    const first = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'first', ...firstOverrides }));
    const second = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'second' }));
    const onFirst = await Bystander.start(t, 'on-first', tunnelPort(first), { seed: 1 });
    const onSecond = await Bystander.start(t, 'on-second', tunnelPort(second), { seed: 2 });
    const through = <T>(fault: () => Promise<T>) => onFirst.through(() => onSecond.through(fault));
    /** After the fault: both bystanders still flow, and a fresh connection on each tunnel works. */
    const stillServing = async () => {
      for (const tunnel of [first, second]) {
        const c = await connectLocal(t, tunnelPort(tunnel));
        c.write('echo\n');
        assert.equal(await echoOnce(c, `fresh on ${tunnel.name}`), `fresh on ${tunnel.name}`);
        c.destroy();
        assert.equal(tunnel.state, 'running');
      }
      await onFirst.stop();
      await onSecond.stop();
    };
    return { backend, first, second, onFirst, onSecond, through, stillServing };
  }

  test('handshake storm: 200 connections whose client certificate the server refuses and 200 to a server we must not trust, amid good traffic', { timeout: 60_000 }, async (t) => {
    const { backend, first, second, through, stillServing } = await scene(t);
    const rogueServer = await startScriptedBackend(t, pki(), { identity: pki().rogueServer, handshakeTimeoutMs: 500 });
    const refused = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'refused', cert: pki().rogueClient.cert, key: pki().rogueClient.key }));
    const untrusting = await startTunnel(t, tunnelConfig(pki(), rogueServer.port, { name: 'untrusting' }));
    const refusedDiagnoses = recordDiagnoses(refused);
    const untrustingDiagnoses = recordDiagnoses(untrusting);
    const firstDiagnoses = recordDiagnoses(first);
    const baseline = resourceLevel();

    const good: string[] = [];
    await through(() => inWaves(200, 50, async (i) => {
      const [a, b] = await Promise.all([turnedAway(t, tunnelPort(refused)), turnedAway(t, tunnelPort(untrusting))]);
      assert.equal(a + b, 0, `storm connection ${i} received bytes`);
      if (i % 2 === 0) {
        // Good traffic interleaved with the storm, on both good tunnels.
        const c = await connectLocal(t, tunnelPort(i % 4 === 0 ? first : second));
        c.write('echo\n');
        good.push(await echoOnce(c, `good ${i}`));
        c.end();
        await closed(c, 5000);
      }
    }));
    assert.equal(good.length, 100);

    await until(() => failures(refused) === 200 && failures(untrusting) === 200, 10_000, 'every storm handshake to be counted as failed');
    // Node's TLS server checks the client certificate after the handshake and hangs up without an
    // alert: it asked for a certificate and dropped ours, which is CLIENT_CERT_REJECTED (an
    // "unknown ca" alert, CLIENT_CERT_UNKNOWN_CA, comes only from OpenSSL-verifying servers).
    assert.deepEqual(refused.snapshot().handshakesFailed, { CLIENT_CERT_REJECTED: 200 });
    assert.deepEqual(untrusting.snapshot().handshakesFailed, { SERVER_CERT_UNTRUSTED: 200 });
    assert.equal(refusedDiagnoses.length, 200);
    assert.ok(refusedDiagnoses.every((d) => d.summary.startsWith('Tunnel "refused"')));
    assert.equal(untrustingDiagnoses.length, 200);
    assert.ok(untrustingDiagnoses.every((d) => /^Tunnel "untrusting".*Rogue CA/.test(d.summary)), untrustingDiagnoses[0]?.summary);
    assert.equal(rogueServer.seen.length, 0, 'the untrusted server never got a TLS session');
    assert.deepEqual(firstDiagnoses, [], 'the good tunnel saw nothing wrong');
    assert.deepEqual(first.snapshot().handshakesFailed, {});
    assert.deepEqual(second.snapshot().handshakesFailed, {});

    for (const tunnel of [refused, untrusting]) assert.equal(tunnel.snapshot().openConnections, 0);
    await until(() => rogueServer.open() === 0, 5000, 'the untrusted server to hold no connection');
    await backToBaseline(baseline, 5000);
    await stillServing();
  });

  test('backend accepts and never answers: 20 connect timeouts at once and an idle timeout on a stalled session; the rest never notice', { timeout: 30_000 }, async (t) => {
    const { backend, first, through, stillServing } = await scene(t, { connectTimeoutMs: 600, idleTimeoutMs: 1000 });
    const diagnoses = recordDiagnoses(first);
    const openBefore = backend.open();

    // 20 connections whose TCP connection is accepted and then never hears a TLS byte.
    backend.fates.push(...Array<'silent'>(20).fill('silent'));
    const tookMs = await through(() => Promise.all(Array.from({ length: 20 }, async () => {
      const began = Date.now();
      assert.equal(await turnedAway(t, tunnelPort(first)), 0);
      return Date.now() - began;
    })));
    // Not before the timeout (a premature close would be a bug); how much later depends on the machine.
    for (const ms of tookMs) assert.ok(ms >= 550, `closed after ${ms} ms, before the 600 ms timeout`);
    assert.equal(first.snapshot().handshakesFailed.CONNECT_TIMEOUT, 20);
    assert.equal(diagnoses.length, 20);
    assert.ok(diagnoses.every((d) => d.code === 'CONNECT_TIMEOUT' && /^Tunnel "first": .*600 ms/.test(d.summary)), diagnoses[0]?.summary);
    await until(() => backend.open() === openBefore, 5000, 'the tunnel to let go of the silent TCP connections');

    // A TLS session whose backend stops answering: the idle timeout closes it, not the busy ones.
    const stalled = await connectLocal(t, tunnelPort(first));
    stalled.write('stall\n');
    const began = Date.now();
    await through(() => closed(stalled, 5000));
    const idleMs = Date.now() - began;
    assert.ok(idleMs >= 950, `the stalled session closed after ${idleMs} ms, before the 1000 ms idle timeout`);
    await until(() => first.snapshot().openConnections === 1 && backend.open() === openBefore, 5000, 'only the bystander to remain');
    await stillServing();
  });

  test('backend closes its write side first on 20 connections at once: each gets every byte and an end, and what it sends afterwards arrives whole', { timeout: 30_000 }, async (t) => {
    const { backend, first, through, stillServing } = await scene(t);
    const diagnoses = recordDiagnoses(first);
    const after = seededBytes('after-end', 1024 * 1024);
    await through(() => Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const id = `hc${i}`;
      const size = 64 * 1024 + i * 4096;
      const c = await connectLocal(t, tunnelPort(first));
      const reply = readToEnd(c, 10_000);
      c.write(`halfclose ${size} ${id}\n`);
      const got = await reply;
      assert.equal(got.bytes, size);
      assert.ok(got.data!.equals(seededBytes(id, size)), `${id}: the backend's bytes arrive unchanged before the end`);
      await writeAll(c, after);
      await closed(c, 10_000);
      await until(() => backend.afterEnd.has(id), 5000, `${id}: the backend to see our end`);
      assert.deepEqual(backend.afterEnd.get(id), { bytes: after.length, sha256: sha256Hex(after) }, `${id}: what we sent after its end`);
    })));
    assert.deepEqual(diagnoses, [], 'a half-close is not a fault');
    await until(() => first.snapshot().openConnections === 1, 5000, 'the half-closed connections to finish');
    await stillServing();
  });

  test('local clients vanish at every stage (before the handshake, mid-upload, mid-download, by FIN and by RST): their upstreams close, nothing leaks', { timeout: 30_000 }, async (t) => {
    const { backend, first, through, stillServing } = await scene(t);
    const diagnoses = recordDiagnoses(first);
    const openBefore = backend.open();
    const baseline = resourceLevel();
    const vanish = (c: net.Socket, i: number) => void (i % 2 === 0 ? c.destroy() : c.resetAndDestroy());
    const stages: Record<string, (i: number) => Promise<void>> = {
      'at once': async (i) => vanish(await connectLocal(t, tunnelPort(first)), i),
      'mid-upload': async (i) => {
        const c = await connectLocal(t, tunnelPort(first));
        c.write('sink\n');
        await writeAll(c, seededBytes(`up${i}`, 256 * 1024), { end: false });
        vanish(c, i);
      },
      'mid-download': async (i) => {
        const c = await connectLocal(t, tunnelPort(first));
        c.write(`stream down${i}\n`);
        await readBytes(c, 128 * 1024, 5000);
        vanish(c, i);
      },
      'mid-echo': async (i) => {
        const c = await connectLocal(t, tunnelPort(first));
        c.write('echo\n');
        c.write(seededBytes(`echo${i}`, 512 * 1024));
        await readBytes(c, 1024, 5000);
        vanish(c, i);
      },
    };
    await through(() => Promise.all(Object.values(stages).flatMap((stage) => Array.from({ length: 15 }, (_, i) => stage(i)))));
    await until(() => first.snapshot().openConnections === 1, 5000, 'the tunnel to forget the vanished clients');
    await until(() => backend.open() === openBefore, 5000, 'every upstream of a vanished client to close');
    await backToBaseline(baseline, 5000);
    assert.equal(first.snapshot().totalConnections, 1 + 60, 'the bystander and the vanished');
    assert.deepEqual(diagnoses.filter((d) => d.severity !== 'info'), [], 'a client leaving is not a server fault');
    await stillServing();
  });

  test('target down and back, three times: new connections fail with CONNECTION_REFUSED, then succeed again without restarting the tunnel', { timeout: 45_000 }, async (t) => {
    // The bystanders live on another tunnel to another backend: this one's target goes away.
    const steady = await startScriptedBackend(t, pki());
    const second = await startTunnel(t, tunnelConfig(pki(), steady.port, { name: 'second' }));
    const onSecond = await Bystander.start(t, 'on-second', tunnelPort(second), { seed: 3 });
    let backend: ScriptedBackend = await startScriptedBackend(t, pki());
    const port = backend.port;
    const first = await startTunnel(t, tunnelConfig(pki(), port, { name: 'first', connectTimeoutMs: 1000 }));
    const states: string[] = [];
    first.on('state', (s) => states.push(s));
    const diagnoses = recordDiagnoses(first);

    for (let round = 1; round <= 3; round++) {
      const victim = await Bystander.start(t, `victim-${round}`, tunnelPort(first), { seed: 10 + round });
      await onSecond.through(async () => {
        await backend.close();
        await until(() => victim.error !== undefined, 10_000, 'the connection to the stopped target to break');
        const before = first.snapshot().handshakesFailed.CONNECTION_REFUSED ?? 0;
        for (let i = 0; i < 5; i++) assert.equal(await turnedAway(t, tunnelPort(first)), 0);
        assert.equal(first.snapshot().handshakesFailed.CONNECTION_REFUSED, before + 5);
        const refused = diagnoses.filter((d) => d.code === 'CONNECTION_REFUSED');
        assert.ok(refused.length >= 5 * round && refused.every((d) => d.summary.startsWith('Tunnel "first"') && d.summary.includes(`127.0.0.1:${port}`)), refused[0]?.summary);

        backend = await startScriptedBackend(t, pki(), { port });
        const c = await connectLocal(t, tunnelPort(first));
        c.write('echo\n');
        assert.equal(await echoOnce(c, `back, round ${round}`), `back, round ${round}`);
        c.destroy();
      });
    }
    assert.deepEqual(states, [], 'the tunnel itself never changed state');
    await until(() => first.snapshot().openConnections === 0, 5000, 'nothing left open');
    await onSecond.stop();
  });

  describe('certificate files', () => {
    test('replaced mid-traffic: the open connections keep flowing, new ones present the new certificate; garbage keeps the last good one and names the file', { timeout: 45_000 }, async (t) => {
      const live = await liveCredentials(pki(), pki().client);
      const backend = await startScriptedBackend(t, pki());
      const first = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'first', cert: live.cert, key: live.key }), { watchCredentials: true });
      const second = await startTunnel(t, tunnelConfig(pki(), backend.port, { name: 'second' }));
      const reloads: string[] = [];
      first.on('credentialsReloaded', (d) => reloads.push(d));
      const diagnoses = recordDiagnoses(first);
      const onFirst = await Bystander.start(t, 'on-first', tunnelPort(first), { seed: 4 });
      const onSecond = await Bystander.start(t, 'on-second', tunnelPort(second), { seed: 5 });
      // A long upload on the first tunnel that spans every replacement below (paced, so it does).
      const upload = await connectLocal(t, tunnelPort(first));
      upload.write('sink\n');
      const uploadReply = readToEnd(upload, 40_000);
      const uploaded = seededBytes('spanning upload', 8 * 1024 * 1024);
      let uploading = true;
      const uploadDone = (async () => {
        for (let off = 0; off < uploaded.length; off += 256 * 1024) {
          await writeAll(upload, uploaded.subarray(off, off + 256 * 1024), { end: false });
          if (uploading) await sleep(20);
        }
        upload.end();
      })();
      const both = <T>(fault: () => Promise<T>) => onFirst.through(() => onSecond.through(fault));
      const alice = certificateId(pki().client.cert);
      assert.deepEqual(await whoami(t, tunnelPort(first)), alice);

      // 1. Renewed by rename: new connections present bob, by serial and fingerprint.
      const bob = await pki().intermediate.issue({ commonName: 'bob', usage: 'client' });
      await both(async () => {
        await live.renameOver(bob.chainPem, bob.keyPem);
        await until(() => reloads.length === 1, 5000, 'the reload to bob');
      });
      const bobId = { serial: bob.x509.serialNumber.toUpperCase(), fingerprint256: bob.x509.fingerprint256 };
      assert.notDeepEqual(bobId, alice);
      assert.deepEqual(await whoami(t, tunnelPort(first)), bobId);

      // 2. Garbage: a warning names the file, the tunnel keeps bob.
      await both(async () => {
        await live.renameOver('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n', 'garbage\n');
        await until(() => diagnoses.some((d) => d.severity === 'warning'), 5000, 'a warning about the broken files');
      });
      const warning = diagnoses.find((d) => d.severity === 'warning')!;
      assert.equal(warning.code, 'PEM_MALFORMED');
      assert.ok(warning.summary.startsWith('Tunnel "first"') && warning.summary.includes(live.cert), warning.summary);
      assert.match(warning.fix, /keeps using the credentials loaded before/);
      assert.deepEqual(await whoami(t, tunnelPort(first)), bobId, 'the last good identity is kept');
      assert.equal(reloads.length, 1);

      // 3. Written in place, cert first and key 600 ms later (slower than the watcher's debounce):
      //    the half-written state is refused and kept out; the complete pair is taken. The refusal
      //    repeats the last warning, so no event marks it: this pause proves nothing changed.
      const carol = await pki().intermediate.issue({ commonName: 'carol', usage: 'client' });
      await both(async () => {
        await writeFile(live.cert, carol.chainPem);
        await sleep(600);
        assert.deepEqual(await whoami(t, tunnelPort(first)), bobId, 'a cert without its key is not used');
        await writeFile(live.key, carol.keyPem);
        await until(() => reloads.length === 2, 5000, 'the reload to carol');
      });
      assert.deepEqual(await whoami(t, tunnelPort(first)), { serial: carol.x509.serialNumber.toUpperCase(), fingerprint256: carol.x509.fingerprint256 });

      // The upload that spanned all of it arrives whole, on the session it began with (as alice).
      uploading = false;
      await uploadDone;
      assert.equal((await uploadReply).data!.toString(), `${uploaded.length} ${sha256Hex(uploaded)}\n`);
      // Both bystanders, the upload and the first whoami were alice; then bob until carol.
      assert.deepEqual(backend.seen.map((s) => s.cn), ['alice', 'alice', 'alice', 'alice', 'bob', 'bob', 'bob', 'carol']);
      assert.equal(first.snapshot().lastHandshake?.resumed, false);
      await onFirst.stop();
      await onSecond.stop();
      assert.equal(first.state, 'running');
    });
  });
});
