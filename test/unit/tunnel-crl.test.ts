/**
 * `crl`: the server's chain is checked against the CRLs in the file on every handshake. CRLs are
 * signed at test time by the throwaway CAs; with a CRL set OpenSSL checks every certificate of the
 * chain, so the files hold the intermediate's CRL and the root's.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test, TestContext } from 'node:test';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { Tunnel, TunnelStartError } from '../../src/core/tunnel/tunnel';
import { startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import { closed, connectLocal, echoOnce, startTunnel, tunnelPort, until, within } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

describe('tunnel crl', () => {
  const pki = withPki();
  const serverSerial = () => new X509Certificate(readFileSync(pki().server.cert)).serialNumber;

  async function crlFile(t: TestContext, content: string): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'mtls-crl-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'crl.pem');
    await writeFile(file, content);
    return file;
  }
  const revoking = async () => (await pki().intermediate.crl([serverSerial()])) + (await pki().root.crl());
  const clean = async () => (await pki().intermediate.crl(['10abcdef'])) + (await pki().root.crl());

  async function refusedWith(t: TestContext, tunnel: Tunnel): Promise<Diagnosis> {
    const diagnoses: Diagnosis[] = [];
    const onDiagnosis = (d: Diagnosis) => diagnoses.push(d);
    tunnel.on('diagnosis', onDiagnosis);
    try {
      const client = await connectLocal(t, tunnelPort(tunnel));
      client.write('hello?');
      let received = 0;
      client.on('data', (d: Buffer) => (received += d.length));
      await closed(client, 5000);
      assert.equal(received, 0, 'nothing from the server reaches the client');
      await until(() => diagnoses.length > 0, 3000, 'the diagnosis');
      return diagnoses[0];
    } finally {
      tunnel.off('diagnosis', onDiagnosis);
    }
  }

  test('a CRL that revokes the server\'s certificate: the handshake is refused with SERVER_CERT_REVOKED', { timeout: 20_000 }, async (t) => {
    const server = await startMtlsServer(pki(), {}, t);
    const crl = await crlFile(t, await revoking());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'revoked', crl }));
    const d = await refusedWith(t, tunnel);
    assert.equal(d.code, 'SERVER_CERT_REVOKED');
    assert.match(d.summary, /^Tunnel "revoked": the server's certificate \(serial [0-9A-F]+, CN=localhost\) is revoked by your CRL/);
    assert.ok(d.summary.includes(serverSerial()), d.summary);
    assert.ok(d.summary.includes(crl), d.summary);
    assert.equal(tunnel.snapshot().handshakesFailed.SERVER_CERT_REVOKED, 1);
    assert.equal(tunnel.snapshot().handshakesOk, 0);
  });

  test('a CRL that does not list it: the tunnel works', { timeout: 20_000 }, async (t) => {
    const server = await startMtlsServer(pki(), {}, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'clean', crl: await crlFile(t, await clean()) }));
    const client = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(client, 'through'), 'through');
    assert.equal(tunnel.snapshot().handshakesOk, 1);
  });

  test('a CRL missing for one CA of the chain: CRL_UNUSABLE, naming the file', { timeout: 20_000 }, async (t) => {
    const server = await startMtlsServer(pki(), {}, t);
    const crl = await crlFile(t, await pki().intermediate.crl());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'partial', crl }));
    const d = await refusedWith(t, tunnel);
    assert.equal(d.code, 'CRL_UNUSABLE');
    assert.ok(d.summary.includes(crl), d.summary);
  });

  test('replacing the CRL file applies to new connections; the open one continues', { timeout: 20_000 }, async (t) => {
    const server = await startMtlsServer(pki(), {}, t);
    const crl = await crlFile(t, await clean());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'reloads', crl }), { watchCredentials: true });
    const before = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(before, 'before'), 'before');
    const reloaded = within(new Promise((resolve) => tunnel.once('credentialsReloaded', resolve)), 5000, 'the CRL to be reloaded');
    // Written beside it and renamed over it, as tools that publish CRLs do.
    await writeFile(`${crl}.new`, await revoking());
    await rename(`${crl}.new`, crl);
    await reloaded;
    const d = await refusedWith(t, tunnel);
    assert.equal(d.code, 'SERVER_CERT_REVOKED');
    assert.equal(await echoOnce(before, 'still open'), 'still open', 'a connection made before the change keeps going');
  });

  test('a CRL file that does not parse is a start error naming "crl"', { timeout: 20_000 }, async (t) => {
    const server = await startMtlsServer(pki(), {}, t);
    for (const [content, why] of [
      ['not a crl at all\n', /holds no PEM CRL/],
      ['-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', /holds a CRL that cannot be parsed/],
    ] as const) {
      const crl = await crlFile(t, content);
      const tunnel = new Tunnel(tunnelConfig(pki(), server.port, { name: 'bad crl', crl }), { watchCredentials: false });
      t.after(() => tunnel.stop());
      const e = await tunnel.start().then(() => undefined, (err: unknown) => err);
      assert.ok(e instanceof TunnelStartError, String(e));
      assert.equal(e.field, 'crl');
      assert.equal(e.diagnosis.code, 'PEM_MALFORMED');
      assert.match(e.diagnosis.summary, /^Tunnel "bad crl": the crl file /);
      assert.match(e.diagnosis.summary, why);
      assert.equal(tunnel.address(), undefined, 'nothing listens');
    }
  });
});
