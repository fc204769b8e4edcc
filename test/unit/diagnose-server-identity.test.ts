/**
 * The server's identity, for real: each server below presents a certificate the tunnel must
 * refuse, and the diagnosis must say which one and why in the server's own terms (issuer, SANs,
 * dates, pin).
 */
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { checkTunnel } from '../../src/core/doctor';
import { MtlsServerOptions, startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();
const DAY = 86_400_000;

async function checkAgainst(server: MtlsServerOptions, overrides: Record<string, unknown> = {}) {
  const s = await startMtlsServer(pki(), server);
  try {
    return { port: s.port, report: await checkTunnel(tunnelConfig(pki(), s.port, { name: 'orders-db', ...overrides })) };
  } finally {
    await s.close();
  }
}

const isoDay = (certFile: string, field: 'validFrom' | 'validTo') =>
  new Date(new X509Certificate(readFileSync(certFile))[field]).toISOString().slice(0, 10);

describe('diagnosing the server certificate', () => {
  it('SERVER_CERT_UNTRUSTED names the issuer ("Rogue CA") and the CA file', async () => {
    const { report } = await checkAgainst({ identity: pki().rogueServer });
    assert.equal(report.verdict, 'failed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_CERT_UNTRUSTED');
    assert.equal(d.summary, `Tunnel "orders-db": the server certificate (CN=localhost) was issued by "Rogue CA", which the CA file ${pki().ca} does not contain.`);
    assert.match(d.fix, new RegExp(`Add that CA's certificate to ${pki().ca.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    // The chain is reported although verification failed: that is what the user needs to see.
    assert.equal(report.serverChain.length, 1);
    assert.match(report.serverChain[0].issuer, /CN=Rogue CA/);
  });

  it('SERVER_NAME_MISMATCH lists the SANs the certificate does carry', async () => {
    const { report } = await checkAgainst({ identity: pki().serverWrongName });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_NAME_MISMATCH');
    assert.equal(d.summary, 'Tunnel "orders-db": the server certificate is not valid for "localhost"; it names DNS:other.example.');
    assert.match(d.fix, /"serverName"/);
  });

  it('SERVER_CERT_EXPIRED gives the date it expired', async () => {
    const { report } = await checkAgainst({ identity: pki().serverExpired });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_CERT_EXPIRED');
    assert.equal(d.summary, `Tunnel "orders-db": the server certificate (CN=localhost) expired on ${isoDay(pki().serverExpired.cert, 'validTo')}.`);
    assert.ok(report.serverChain[0].daysLeft < 0);
  });

  it('SERVER_CERT_NOT_YET_VALID gives the date it becomes valid', async () => {
    const issued = await pki().intermediate.issue({
      commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'],
      notBefore: new Date(Date.now() + 10 * DAY), notAfter: new Date(Date.now() + 400 * DAY),
    });
    const identity = { cert: path.join(pki().dir, 'server-future.crt'), key: path.join(pki().dir, 'server-future.key') };
    await writeFile(identity.cert, issued.chainPem);
    await writeFile(identity.key, issued.keyPem);
    const { report } = await checkAgainst({ identity });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_CERT_NOT_YET_VALID');
    assert.equal(d.summary, `Tunnel "orders-db": the server certificate (CN=localhost) is not valid until ${isoDay(identity.cert, 'validFrom')}.`);
    assert.match(d.fix, /clock/);
  });

  it('SERVER_SAN_MISSING names the SAN required and the ones present', async () => {
    const { report } = await checkAgainst({}, { verify: { subjectAltNames: ['URI:spiffe://x'] } });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_SAN_MISSING');
    assert.equal(d.summary, 'Tunnel "orders-db": the server certificate does not carry the SANs you require (URI:spiffe://x).');
    assert.match(d.fix, /It has: DNS:localhost, IP:127\.0\.0\.1/);
  });

  it('SERVER_PIN_MISMATCH gives the pin of the key the server has now', async () => {
    const wrong = createHash('sha256').update('not the key').digest('base64');
    const { report } = await checkAgainst({ identity: pki().rsaServer }, { ca: pki().rsaCa, verify: { spkiSha256: [wrong] } });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'SERVER_PIN_MISMATCH');
    assert.match(d.summary, /^Tunnel "orders-db": the server's key does not match any pin in verify\.spkiSha256/);
    assert.equal(d.fix, `If the rotation is expected, update the pin; the server's key is now ${spkiPinOf(pki().rsaServer.cert)}.`);
  });

  it('a matching pin passes (RSA server key)', async () => {
    const { report } = await checkAgainst({ identity: pki().rsaServer }, { ca: pki().rsaCa, verify: { spkiSha256: [spkiPinOf(pki().rsaServer.cert)] } });
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
    assert.deepEqual(report.diagnoses, []);
  });

  it('a matching pin passes (EC server key)', async () => {
    const { report } = await checkAgainst({}, { verify: { spkiSha256: [spkiPinOf(pki().server.cert)] } });
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
  });
});

/** base64 SHA-256 of the DER SubjectPublicKeyInfo, as `mtls-tunnels inspect` and openssl compute it. */
function spkiPinOf(certFile: string): string {
  const spki = new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
