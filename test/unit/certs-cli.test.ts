/** `mtls-tunnels inspect`: exit codes, text and JSON output, passphrases from the environment. */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { runInspect } from '../../src/cli/inspect';
import { writePkcs12 } from '../../src/core/pki/testPki';
import { withPki } from '../support/pkiFixture';

const pki = withPki();

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runInspect(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

const PASSPHRASE_VARIABLE = 'MTLS_TUNNELS_TEST_INSPECT_PASSPHRASE';

describe('mtls-tunnels inspect', () => {
  let p12: string;
  before(async () => {
    p12 = await writePkcs12(path.join(pki().dir, 'client.p12'), pki().rsaClient, 'cli-secret');
    await writeFile(path.join(pki().dir, 'garbage.txt'), 'hello\n');
  });

  test('text output, exit 0', async () => {
    const { code, stdout, stderr } = await run(pki().client.cert, pki().client.key);
    assert.equal(code, 0);
    assert.equal(stderr, '');
    assert.match(stdout, /Certificate 1 of 2 \(leaf\)\n {4}Subject: {4}CN=alice, O=mTLS Tunnels Test\n/);
    assert.match(stdout, /Matches: {4}certificate 1 of .*client\.crt \(CN=alice/);
    assert.match(stdout, /Chain: {8}in order/);
  });

  test('--json prints one parsable object per file with stable fields', async () => {
    const missing = path.join(pki().dir, 'missing.crt');
    const { code, stdout, stderr } = await run('--json', pki().server.cert, missing);
    assert.equal(code, 1);
    const parsed = JSON.parse(stdout) as Array<Record<string, unknown>>;
    assert.equal(parsed.length, 2);
    assert.deepEqual(Object.keys(parsed[0]), ['file', 'kind', 'certificates', 'keys', 'chain', 'warnings', 'error']);
    const [server] = parsed[0].certificates as Array<{ commonName: string; subjectAltNames: string[]; daysLeft: number }>;
    assert.equal(server.commonName, 'localhost');
    assert.ok(server.subjectAltNames.includes('DNS:localhost'));
    assert.deepEqual(parsed[1].error, { code: 'not-found', message: `no such file: ${missing}` });
    assert.match(stderr, /no such file: .*missing\.crt/);
  });

  test('a file that cannot be read: exit 1, the good files still printed', async () => {
    const { code, stdout, stderr } = await run(path.join(pki().dir, 'garbage.txt'), pki().ca);
    assert.equal(code, 1);
    assert.match(stderr, /garbage\.txt is not a certificate, key or PKCS#12 bundle/);
    assert.match(stdout, /Certificate 1 of 1 \(root\)/);
  });

  test('PKCS#12 with the passphrase from --passphrase-env', async () => {
    process.env[PASSPHRASE_VARIABLE] = 'cli-secret';
    try {
      const ok = await run(p12, '--passphrase-env', PASSPHRASE_VARIABLE);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /Key: {8}RSA 2048/);
      assert.ok(!ok.stdout.includes('cli-secret') && !ok.stderr.includes('cli-secret'), 'the passphrase is never printed');

      process.env[PASSPHRASE_VARIABLE] = 'wrong';
      const wrong = await run(`--passphrase-env=${PASSPHRASE_VARIABLE}`, p12);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /wrong passphrase for .*client\.p12/);
    } finally {
      delete process.env[PASSPHRASE_VARIABLE];
    }
    const none = await run(p12);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /passphrase needed for .*client\.p12 .*--passphrase-env/);
  });

  test('usage errors exit 2', async () => {
    for (const args of [[], ['--bogus', pki().ca], ['--passphrase-env'], ['--passphrase-env', 'MTLS_TUNNELS_TEST_UNSET_VARIABLE', pki().ca]]) {
      const { code, stdout, stderr } = await run(...args);
      assert.equal(code, 2, JSON.stringify(args));
      assert.equal(stdout, '');
      assert.match(stderr, /^mtls-tunnels inspect: .*\nusage: mtls-tunnels inspect FILE/);
    }
  });

  test('--help exits 0; -- lets a file name start with a dash', async () => {
    const help = await run('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: mtls-tunnels inspect/);
    const dashed = await run('--', '-missing.crt');
    assert.equal(dashed.code, 1);
    assert.match(dashed.stderr, /no such file: -missing\.crt/);
  });

  test('never prints private key material', async () => {
    const keyPem = await readFile(pki().client.key, 'utf8');
    const keyLine = keyPem.split('\n')[2];
    const text = await run(pki().client.key);
    const json = await run('--json', pki().client.key);
    assert.equal(text.code, 0);
    assert.ok(keyLine.length > 20);
    assert.ok(!text.stdout.includes(keyLine) && !json.stdout.includes(keyLine));
    assert.ok(!text.stdout.includes('PRIVATE KEY-----'));
  });
});
