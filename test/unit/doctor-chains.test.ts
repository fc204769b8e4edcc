/**
 * Chains on both sides against a real `openssl s_server -Verify … -verify_return_error`: the
 * diagnosis must blame the party whose file is wrong. A server without its intermediate, our CA
 * file without the server's root, a CA file holding a leaf, our certificate file without our
 * intermediate, and the wrong extended key usage on either side each get their own code.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { before, describe, it, test } from 'node:test';
import { runCheck } from '../../src/cli/check';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { checkTunnel } from '../../src/core/doctor';
import { PkiFiles } from '../../src/core/pki/testPki';
import { opensslBinary, OpensslServerOptions, startOpensslServer } from '../support/opensslServer';
import { withPki } from '../support/pkiFixture';
import { connectLocal, startTunnel, tunnelPort, until } from '../support/tunnelKit';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();
const skip = opensslBinary() ? false : 'openssl is not installed (apt-get install openssl)';
const INTERMEDIATE = 'CN=mTLS Tunnels Test Intermediate CA, O=mTLS Tunnels Test';
const ROOT = 'CN=mTLS Tunnels Test Root CA, O=mTLS Tunnels Test';
const SERVER_NAMES = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };

/** Identities made for this file only: each one a single mistake. */
let serverLeafOnly: PkiFiles;
let serverClientEku: PkiFiles;
let clientLeafOnly: PkiFiles;

before(async () => {
  const p = await pki.ready();
  const save = async (name: string, cert: string, key: string): Promise<PkiFiles> => {
    const files = { cert: path.join(p.dir, `${name}.crt`), key: path.join(p.dir, `${name}.key`) };
    await writeFile(files.cert, cert, { mode: 0o600 });
    await writeFile(files.key, key, { mode: 0o600 });
    return files;
  };
  const leaf = await p.intermediate.issue({ commonName: 'localhost', usage: 'server', ...SERVER_NAMES });
  serverLeafOnly = await save('chains-server-leaf-only', leaf.certPem, leaf.keyPem);
  const wrongEku = await p.intermediate.issue({ commonName: 'localhost', usage: 'client', ...SERVER_NAMES });
  serverClientEku = await save('chains-server-client-eku', wrongEku.chainPem, wrongEku.keyPem);
  const alice = await p.intermediate.issue({ commonName: 'alice', usage: 'client' });
  clientLeafOnly = await save('chains-client-leaf-only', alice.certPem, alice.keyPem);
});

async function check(server: Partial<OpensslServerOptions>, overrides: Record<string, unknown> = {}) {
  const s = await startOpensslServer({ identity: pki().server, clientCa: pki().ca, ...server });
  try {
    return await checkTunnel(tunnelConfig(pki(), s.port, { name: 'ledger', ...overrides }));
  } finally {
    await s.close();
  }
}

describe('the server side of the chain', { skip }, () => {
  it('the server omits its intermediate: SERVER_CHAIN_INCOMPLETE names it and puts the fix on the server', async () => {
    const report = await check({ identity: serverLeafOnly });
    assert.equal(report.verdict, 'failed');
    assert.equal(report.serverChain.length, 1, 'the server sent its leaf alone');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_CHAIN_INCOMPLETE');
    assert.equal(d.summary, `Tunnel "ledger": the server sends only its own certificate (CN=localhost), without the intermediate CA "${INTERMEDIATE}" that issued it, so it cannot be chained to a root in the CA file ${pki().ca}.`);
    assert.match(d.fix, /^The fix is on the server: its certificate file must hold its certificate followed by/);
    assert.match(d.fix, new RegExp(`as a workaround, add that intermediate's certificate \\(it is in your certificate file ${esc(pki().client.cert)}\\) to ${esc(pki().ca)}`));
  });

  it('the workaround works: the intermediate added to "ca" lets the same server through', async () => {
    const report = await check({ identity: serverLeafOnly }, { ca: pki().caBundle });
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
  });

  it('our CA file lacks the server\'s root: SERVER_CERT_UNTRUSTED names the root, not the intermediate', async () => {
    const report = await check({}, { ca: pki().rsaCa });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_CERT_UNTRUSTED');
    assert.equal(d.summary, `Tunnel "ledger": the server certificate (CN=localhost) chains up through "${INTERMEDIATE}" to the root "${ROOT}", which the CA file ${pki().rsaCa} does not contain.`);
    assert.match(d.fix, new RegExp(`^Add the certificate of "${ROOT}" to ${esc(pki().rsaCa)}`));
  });

  it('the CA file holds a leaf: CA_FILE_NOT_CA', async () => {
    const report = await check({}, { ca: pki().rogueClient.cert });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CA_FILE_NOT_CA');
    assert.equal(d.summary, `Tunnel "ledger": the CA file ${pki().rogueClient.cert} holds no CA certificate, only "CN=alice, O=mTLS Tunnels Test": a server's or client's own certificate cannot vouch for a server.`);
    assert.match(d.fix, new RegExp(`^Point "ca" at the certificate of the CA at the top of the server's chain \\("${ROOT}"\\), not at a leaf certificate\\.$`));
  });

  it('a server certificate without serverAuth: SERVER_CERT_WRONG_PURPOSE quotes its EKU', async () => {
    const report = await check({ identity: serverClientEku });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_CERT_WRONG_PURPOSE');
    assert.equal(d.summary, 'Tunnel "ledger": the server certificate (CN=localhost) is not meant for a TLS server: its extended key usage is clientAuth, without serverAuth.');
    assert.match(d.fix, /issued for server authentication \(EKU serverAuth\)/);
  });
});

describe('our side of the chain', { skip }, () => {
  it('our certificate file lacks our intermediate (TLS 1.3): CLIENT_CHAIN_INCOMPLETE, not "the server does not trust your CA"', async () => {
    const report = await check({}, { cert: clientLeafOnly.cert, key: clientLeafOnly.key });
    assert.equal(report.verdict, 'failed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CLIENT_CHAIN_INCOMPLETE');
    assert.equal(d.summary, `Tunnel "ledger": the server could not chain your client certificate (CN=alice) to a CA it trusts: ${clientLeafOnly.cert} holds only your certificate, not the intermediate CA "${INTERMEDIATE}" that issued it.`);
    assert.equal(d.fix, `Append the certificate of "${INTERMEDIATE}" (it is in the server's own chain) to ${clientLeafOnly.cert}, after yours.`);
    assert.match(d.detail ?? '', /UNKNOWN_CA/);
  });

  it('with the intermediate in our CA bundle the same leaf-only file works: OpenSSL completes our chain from "ca"', async () => {
    const report = await check({ maxVersion: 'TLSv1.2' }, { cert: clientLeafOnly.cert, key: clientLeafOnly.key, ca: pki().caBundle });
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
  });

  it('a server that trusts another CA, with our full chain sent: CLIENT_CA_NOT_ACCEPTED, not a missing intermediate', async () => {
    const report = await check({ clientCa: pki().rsaCa });
    assert.equal(report.diagnoses[0].code, 'CLIENT_CA_NOT_ACCEPTED');
  });

  it('our leaf alone over TLS 1.2: the server\'s chain, read from the handshake records, names our missing intermediate', async () => {
    const report = await check({ maxVersion: 'TLSv1.2' }, { cert: clientLeafOnly.cert, key: clientLeafOnly.key });
    assert.equal(report.serverChain.length, 0, 'Node never handed over the chain of a handshake that failed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CLIENT_CHAIN_INCOMPLETE');
    assert.equal(d.fix, `Append the certificate of "${INTERMEDIATE}" (it is in the server's own chain) to ${clientLeafOnly.cert}, after yours.`);
    assert.deepEqual(report.acceptedClientCas, [ROOT], 'the server lists the root it trusts');
  });

  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`a client certificate without clientAuth (${maxVersion}): CLIENT_CERT_WRONG_PURPOSE quotes its EKU`, async () => {
      const report = await check({ maxVersion }, { cert: pki().clientServerOnly.cert, key: pki().clientServerOnly.key });
      const [d] = report.diagnoses;
      assert.equal(d.code, 'CLIENT_CERT_WRONG_PURPOSE');
      assert.equal(d.summary, 'Tunnel "ledger": the server refused your client certificate (CN=alice), which is not meant for client authentication: its extended key usage is serverAuth, without clientAuth.');
      assert.match(d.fix, /^Use a certificate issued for client authentication \(EKU clientAuth\) in "cert"/);
    });
  }
});

describe('the same causes, named by the tunnel itself and by the CLI', { skip }, () => {
  test('a running tunnel whose server omits its intermediate says SERVER_CHAIN_INCOMPLETE, not "edit your CA file"', async (t) => {
    const s = await startOpensslServer({ identity: serverLeafOnly, clientCa: pki().ca });
    t.after(() => s.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), s.port, { name: 'ledger' }));
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write('hello');
    await until(() => diagnoses.length > 0, 5000, 'the tunnel to diagnose the failed handshake');
    assert.equal(diagnoses[0].code, 'SERVER_CHAIN_INCOMPLETE');
    assert.match(diagnoses[0].summary, /the server sends only its own certificate \(CN=localhost\), without the intermediate CA "CN=mTLS Tunnels Test Intermediate CA/);
  });

  test('a running tunnel whose certificate file lacks our intermediate says CLIENT_CHAIN_INCOMPLETE', async (t) => {
    const s = await startOpensslServer({ identity: pki().server, clientCa: pki().ca });
    t.after(() => s.close());
    const tunnel = await startTunnel(t, tunnelConfig(pki(), s.port, { name: 'ledger', cert: clientLeafOnly.cert, key: clientLeafOnly.key }));
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write('hello');
    await until(() => diagnoses.length > 0, 5000, 'the tunnel to diagnose the refusal');
    assert.equal(diagnoses[0].code, 'CLIENT_CHAIN_INCOMPLETE');
  });

  test('`mtls-tunnels check` prints the sentence and the fix', async () => {
    const s = await startOpensslServer({ identity: serverLeafOnly, clientCa: pki().ca });
    try {
      const out: string[] = [];
      const code = await runCheck([tunnelConfig(pki(), s.port, { name: 'ledger' })], { stdout: (x) => out.push(x), stderr: (x) => out.push(x) });
      assert.equal(code, 1);
      const text = out.join('');
      assert.match(text, /\n {2}✗ Tunnel "ledger": the server sends only its own certificate \(CN=localhost\), without the intermediate CA/);
      assert.match(text, /\n {4}→ The fix is on the server: /);
    } finally {
      await s.close();
    }
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
