/**
 * PKCS#12 bundles: RSA ones as node-forge writes them, EC and Ed25519 ones as openssl writes them
 * (forge cannot decode either, so these are the cases that break first).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { inspectFiles, readCertificateFile } from '../../src/core/certs';
import { writePkcs12 } from '../../src/core/pki/testPki';
import { withPki } from '../support/pkiFixture';

const pki = withPki();
const bundle = (name: string) => path.join(pki().dir, name);

function opensslPkcs12(out: string, identity: { cert: string; key: string }, passphrase: string, ...extra: string[]): void {
  execFileSync('openssl', ['pkcs12', '-export', '-in', identity.cert, '-inkey', identity.key, '-out', out, '-passout', `pass:${passphrase}`, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('PKCS#12 inspection', () => {
  before(async () => {
    await writePkcs12(bundle('rsa.p12'), pki().rsaClient, 'p12-secret');
    opensslPkcs12(bundle('ec.p12'), pki().client, 'p12-secret');
    opensslPkcs12(bundle('ec-legacy.pfx'), pki().client, 'p12-secret', '-legacy');
    opensslPkcs12(bundle('ed25519.p12'), pki().ed25519Client, 'p12-secret');
    opensslPkcs12(bundle('ec-no-passphrase.p12'), pki().client, '');
    // Certificates only, intermediate first: a bundle's order means nothing, so it is rebuilt.
    const [leaf, intermediate] = (await readFile(pki().client.cert, 'utf8')).split(/(?<=-----END CERTIFICATE-----\n)/);
    await writeFile(bundle('reversed.crt'), intermediate + leaf);
    execFileSync('openssl', ['pkcs12', '-export', '-nokeys', '-in', bundle('reversed.crt'), '-out', bundle('certs-only.p12'), '-passout', 'pass:p12-secret'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  });

  test('RSA bundle written by node-forge', async () => {
    const [result] = await inspectFiles([bundle('rsa.p12')], { passphrase: 'p12-secret' });
    assert.equal(result.error, null);
    assert.equal(result.kind, 'PKCS#12');
    assert.equal(result.certificates.length, 1);
    assert.equal(result.certificates[0].commonName, 'alice');
    assert.deepEqual(result.certificates[0].publicKey, { type: 'RSA', curve: null, bits: 2048 });
    assert.deepEqual(result.keys, [{
      format: 'PKCS#12',
      encrypted: true,
      algorithm: { type: 'RSA', curve: null, bits: 2048 },
      spkiSha256: result.certificates[0].spkiSha256,
      matches: { file: bundle('rsa.p12'), index: 0 },
    }]);
  });

  test('EC bundle written by openssl: certificates, chain and key all decoded', async () => {
    for (const name of ['ec.p12', 'ec-legacy.pfx']) {
      const [result] = await inspectFiles([bundle(name)], { passphrase: 'p12-secret' });
      assert.equal(result.error, null, name);
      assert.deepEqual(result.certificates.map((c) => c.commonName), ['alice', 'mTLS Tunnels Test Intermediate CA'], name);
      assert.deepEqual(result.certificates[0].publicKey, { type: 'EC', curve: 'P-256', bits: 256 });
      assert.deepEqual(result.chain, { inOrder: true, problems: [] });
      assert.equal(result.keys.length, 1);
      assert.deepEqual(result.keys[0].algorithm, { type: 'EC', curve: 'P-256', bits: 256 });
      assert.deepEqual(result.keys[0].matches, { file: bundle(name), index: 0 });
      assert.deepEqual(result.warnings, []);
    }
  });

  test('the bundled certificate is the same certificate as the PEM one', async () => {
    const [p12, pem] = await inspectFiles([bundle('ec.p12'), pki().client.cert], { passphrase: 'p12-secret' });
    assert.equal(p12.certificates[0].sha256Fingerprint, pem.certificates[0].sha256Fingerprint);
    assert.equal(p12.certificates[0].spkiSha256, pem.certificates[0].spkiSha256);
  });

  test('certificates of a bundle are listed leaf first whatever their stored order', async () => {
    const [result] = await inspectFiles([bundle('certs-only.p12')], { passphrase: 'p12-secret' });
    assert.equal(result.error, null);
    assert.deepEqual(result.keys, []);
    assert.deepEqual(result.certificates.map((c) => c.role), ['leaf', 'intermediate']);
    assert.deepEqual(result.chain, { inOrder: true, problems: [] });
  });

  test('Ed25519 bundle', async () => {
    const loaded = await readCertificateFile(bundle('ed25519.p12'), 'p12-secret');
    assert.equal(loaded.keys[0].key?.asymmetricKeyType, 'ed25519');
    assert.equal(loaded.certificates[0].checkPrivateKey(loaded.keys[0].key!), true);
  });

  test('wrong passphrase names the file', async () => {
    for (const name of ['rsa.p12', 'ec.p12']) {
      const [result] = await inspectFiles([bundle(name)], { passphrase: 'wrong' });
      assert.deepEqual(result.error, { code: 'wrong-passphrase', message: `wrong passphrase for ${bundle(name)}` });
      assert.deepEqual(result.certificates, []);
    }
  });

  test('no passphrase: needed for a protected bundle, not for an empty-passphrase one', async () => {
    const [needed] = await inspectFiles([bundle('ec.p12')]);
    assert.deepEqual(needed.error, { code: 'passphrase-needed', message: `passphrase needed for ${bundle('ec.p12')}` });
    const [open] = await inspectFiles([bundle('ec-no-passphrase.p12')]);
    assert.equal(open.error, null);
    assert.equal(open.certificates[0].commonName, 'alice');
    assert.ok(open.warnings.includes('the bundle opened with an empty passphrase'), String(open.warnings));
  });

  test('keys are matched across PEM and PKCS#12 files, own file first', async () => {
    const [, p12] = await inspectFiles([pki().client.cert, bundle('ec.p12')], { passphrase: 'p12-secret' });
    assert.deepEqual(p12.keys[0].matches, { file: bundle('ec.p12'), index: 0 });
    const [, pemKey] = await inspectFiles([bundle('ec.p12'), pki().client.key], { passphrase: 'p12-secret' });
    assert.deepEqual(pemKey.keys[0].matches, { file: bundle('ec.p12'), index: 0 });
  });
});
