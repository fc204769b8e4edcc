/**
 * PKCS#12 bundles from older tools: `openssl pkcs12 -export -legacy` encrypts with RC2-40, which
 * OpenSSL 3 (and so Node) refuses without its legacy provider. The tunnel opens them through
 * node-forge; a wrong or missing passphrase still says so. The bundles are made by the openssl
 * CLI at test time, and each is used for a real mTLS handshake.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { describe, test } from 'node:test';
import { checkTunnel } from '../../src/core/doctor';
import { CredentialsError, loadCredentials } from '../../src/core/tls/credentials';
import { PkiFiles } from '../../src/core/pki/testPki';
import { startMtlsServer } from '../support/mtlsServer';
import { opensslBinary } from '../support/opensslServer';
import { withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';

const PASSPHRASE = 'legacy-p12-secret';
const noOpenssl = opensslBinary() ? false : 'needs the openssl CLI';
const pki = withPki();

function exportBundle(name: string, identity: PkiFiles, ...extra: string[]): string {
  const out = path.join(pki().dir, name);
  execFileSync('openssl', ['pkcs12', '-export', '-in', identity.cert, '-inkey', identity.key, '-out', out, '-passout', `pass:${PASSPHRASE}`, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  return out;
}

/** Whether Node's own OpenSSL opens the bundle: the RC2-40 ones must be the case it cannot. */
function opensslOpens(pfx: string): boolean {
  try {
    tls.createSecureContext({ pfx: readFileSync(pfx), passphrase: PASSPHRASE });
    return true;
  } catch {
    return false;
  }
}

describe('PKCS#12 bundles from older tools', { skip: noOpenssl }, () => {
  test('an RC2-40 bundle (openssl -legacy) with an EC identity and its intermediate completes an mTLS handshake', async (t) => {
    const pfx = exportBundle('ec-legacy.p12', pki().client, '-legacy');
    if (opensslOpens(pfx)) t.diagnostic('this OpenSSL opens RC2-40 itself; node-forge is not exercised');
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'legacy-ec', cert: undefined, key: undefined, pfx }), { passphrase: PASSPHRASE });
    assert.deepEqual(report.diagnoses.filter((d) => d.severity === 'error'), []);
    assert.equal(report.verdict, 'ok');
    assert.ok(server.clients.includes('alice'), `the server saw ${server.clients.join(', ') || 'no client certificate'}`);
  });

  test('an RC2-40 bundle with an RSA identity, and a 3DES one, both work', async (t) => {
    const rc2 = exportBundle('rsa-legacy.p12', pki().rsaClient, '-legacy');
    const des = exportBundle('rsa-3des.p12', pki().rsaClient, '-legacy', '-descert');
    assert.equal(opensslOpens(rc2), false, 'Node opened an RC2-40 bundle itself: this test no longer covers the fallback');
    const server = await startMtlsServer(pki(), { identity: pki().rsaServer, clientCa: pki().rsaCa });
    t.after(() => server.close());
    for (const pfx of [rc2, des]) {
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'legacy-rsa', cert: undefined, key: undefined, pfx, ca: pki().rsaCa }), { passphrase: PASSPHRASE });
      assert.equal(report.verdict, 'ok', `${path.basename(pfx)}: ${report.diagnoses.map((d) => d.summary).join(' ')}`);
    }
    assert.ok(server.clients.filter((c) => c === 'alice').length >= 2, `the server saw ${server.clients.join(', ')}`);
  });

  test('a wrong passphrase stays WRONG_PASSPHRASE and a missing one PASSPHRASE_REQUIRED, on "pfx"', async () => {
    const pfx = exportBundle('wrong-legacy.p12', pki().client, '-legacy');
    const config = tunnelConfig(pki(), 1, { name: 'legacy-wrong', cert: undefined, key: undefined, pfx });
    for (const [passphrase, code] of [['not it', 'WRONG_PASSPHRASE'], [undefined, 'PASSPHRASE_REQUIRED']] as const) {
      const error = await loadCredentials(config, passphrase).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CredentialsError, `expected a CredentialsError, got ${String(error)}`);
      assert.equal(error.diagnosis.code, code);
      assert.equal(error.field, 'pfx');
      assert.match(error.diagnosis.summary, /legacy-wrong/);
    }
  });
});
