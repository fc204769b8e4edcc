/**
 * Our identity as the server sees it, for real: servers that refuse our client certificate in
 * every way they do it. Node's own TLS server drops a certificate it dislikes without an alert
 * (a reset during a TLS 1.2 handshake, a hang-up right after a TLS 1.3 one); `openssl s_server`
 * refuses with the alert PostgreSQL or Redis would send (unknown ca, certificate expired).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkTunnel, formatCheckReport } from '../../src/core/doctor';
import { MtlsServer, MtlsServerOptions, startMtlsServer } from '../support/mtlsServer';
import { opensslBinary, OpensslServerOptions, startOpensslServer } from '../support/opensslServer';
import { withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();
const noOpenssl = opensslBinary() ? false : 'openssl is not installed (apt-get install openssl)';
const INTERMEDIATE = 'CN=mTLS Tunnels Test Intermediate CA, O=mTLS Tunnels Test';
const ROOT = 'CN=mTLS Tunnels Test Root CA, O=mTLS Tunnels Test';
const RSA_CA = 'CN=mTLS Tunnels Test RSA CA, O=mTLS Tunnels Test';

async function checkAgainst(server: MtlsServerOptions, overrides: Record<string, unknown> = {}) {
  const s = await startMtlsServer(pki(), server);
  try {
    return await checkTunnel(tunnelConfig(pki(), s.port, { name: 'payments', ...overrides }));
  } finally {
    await s.close();
  }
}

async function checkAgainstOpenssl(server: Omit<OpensslServerOptions, 'identity'>, overrides: Record<string, unknown> = {}) {
  const s = await startOpensslServer({ identity: pki().server, ...server });
  try {
    return await checkTunnel(tunnelConfig(pki(), s.port, { name: 'payments', ...overrides }));
  } finally {
    await s.close();
  }
}

const expiredClient = () => ({ cert: pki().clientExpired.cert, key: pki().clientExpired.key });
const isoDay = (certFile: string, field: 'validFrom' | 'validTo') =>
  new Date(new X509Certificate(readFileSync(certFile))[field]).toISOString().slice(0, 10);

describe('diagnosing our client credentials', () => {
  it('KEY_CERT_MISMATCH names the key and the certificate, before any network', async () => {
    const report = await checkTunnel(tunnelConfig(pki(), 1, { name: 'payments', key: pki().rogueClient.key }));
    assert.equal(report.verdict, 'failed');
    assert.equal(report.diagnoses.length, 1);
    const [d] = report.diagnoses;
    assert.equal(d.code, 'KEY_CERT_MISMATCH');
    assert.equal(d.summary, `Tunnel "payments": the private key ${pki().rogueClient.key} does not belong to the certificate ${pki().client.cert} (CN=alice, O=mTLS Tunnels Test).`);
    assert.equal(report.timings, undefined);
  });

  it('FILE_MISSING names the field and the path', async () => {
    const report = await checkTunnel(tunnelConfig(pki(), 1, { name: 'payments', ca: '/nonexistent/ca.pem' }));
    const [d] = report.diagnoses;
    assert.equal(d.code, 'FILE_MISSING');
    assert.equal(d.summary, 'Tunnel "payments": the ca file /nonexistent/ca.pem does not exist.');
  });
});

describe('diagnosing a server that does not trust our CA', () => {
  it('TLS 1.2, Node server (a bare reset in the handshake): the CAs it lists in its CertificateRequest, compared with ours: CLIENT_CA_NOT_ACCEPTED', async () => {
    const report = await checkAgainst({ clientCa: pki().rsaCa, maxVersion: 'TLSv1.2' });
    assert.equal(report.verdict, 'failed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CLIENT_CA_NOT_ACCEPTED');
    assert.equal(d.summary, `Tunnel "payments": the server accepts client certificates from "${RSA_CA}" only (it lists them in its CertificateRequest); yours (CN=alice) was issued by "${INTERMEDIATE}" under "${ROOT}", which is not among them.`);
    assert.equal(d.fix, `Use a client certificate issued by one of those CAs, or ask the server's operators to accept "${ROOT}".`);
    assert.deepEqual(report.acceptedClientCas, [RSA_CA]);
    assert.match(formatCheckReport(report), new RegExp(`\\n {2}Client CAs  the server accepts "${RSA_CA}"\\n`));
    assert.equal(report.clientCertificateRequired, true, 'the probe without a certificate was refused with an alert');
    assert.equal(report.handshake, undefined);
  });

  it('TLS 1.3 only, Node server (a silent close right after the handshake): caught on the first read; the CA list is encrypted, and the report says so', async () => {
    const report = await checkAgainst({ clientCa: pki().rsaCa, minVersion: 'TLSv1.3' });
    assert.equal(report.acceptedClientCasUnavailable, 'it does not speak TLS 1.2, and TLS 1.3 sends the list encrypted');
    assert.match(formatCheckReport(report), /\n {2}Client CAs  not available: it does not speak TLS 1\.2/);
    assert.equal(report.verdict, 'failed');
    assert.equal(report.handshake?.version, 'TLSv1.3', 'the handshake itself completed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CLIENT_CERT_REJECTED');
    assert.equal(d.summary, `Tunnel "payments": the server requires a client certificate and closed the connection right after the handshake when it got yours, without saying why: it does not accept it, most likely because it does not trust the CA that issued it ("${INTERMEDIATE}").`);
    assert.match(d.fix, /mtls-tunnels inspect .*client\.crt/);
  });

  it('TLS 1.2, OpenSSL server: the unknown ca alert in the handshake, settled by the CA list: CLIENT_CA_NOT_ACCEPTED', { skip: noOpenssl }, async () => {
    const report = await checkAgainstOpenssl({ clientCa: pki().rsaCa, maxVersion: 'TLSv1.2' });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CLIENT_CA_NOT_ACCEPTED');
    assert.match(d.summary, new RegExp(`accepts client certificates from "${RSA_CA}" only`));
    assert.match(d.detail ?? '', /ERR_SSL_TLSV1_ALERT_UNKNOWN_CA/);
    assert.equal(report.handshake, undefined, 'refused inside the handshake');
  });

  it('TLS 1.3, OpenSSL server: the unknown ca alert after the handshake, settled by the CA list of a TLS 1.2 handshake', { skip: noOpenssl }, async () => {
    const report = await checkAgainstOpenssl({ clientCa: pki().rsaCa });
    assert.equal(report.handshake?.version, 'TLSv1.3', 'the handshake completed; the alert came on the first read');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CLIENT_CA_NOT_ACCEPTED');
    assert.deepEqual(report.acceptedClientCas, [RSA_CA]);
    assert.equal(report.clientCertificateRequired, true);
  });
});

describe('diagnosing our certificate dates', () => {
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`CLIENT_CERT_EXPIRED with the date, Node server, ${maxVersion}`, async () => {
      const report = await checkAgainst({ maxVersion }, expiredClient());
      const [d] = report.diagnoses;
      assert.equal(d.code, 'CLIENT_CERT_EXPIRED');
      assert.equal(d.summary, `Tunnel "payments": your client certificate expired on ${isoDay(pki().clientExpired.cert, 'validTo')}, so the server refused it.`);
      assert.match(d.fix, /client-expired\.crt/);
      assert.equal(report.diagnoses.length, 1, 'said once');
    });
  }

  it('CLIENT_CERT_EXPIRED, OpenSSL server (certificate expired alert)', { skip: noOpenssl }, async () => {
    const report = await checkAgainstOpenssl({ clientCa: pki().ca }, expiredClient());
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CLIENT_CERT_EXPIRED');
    assert.match(d.summary, new RegExp(`expired on ${isoDay(pki().clientExpired.cert, 'validTo')}`));
    assert.match(d.detail ?? '', /CERTIFICATE_EXPIRED/);
  });

  it('CLIENT_CERT_NOT_YET_VALID with the date', async () => {
    const report = await checkAgainst({}, { cert: pki().clientNotYetValid.cert, key: pki().clientNotYetValid.key });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CLIENT_CERT_NOT_YET_VALID');
    assert.equal(d.summary, `Tunnel "payments": your client certificate is not valid until ${isoDay(pki().clientNotYetValid.cert, 'validFrom')}, so the server refused it.`);
  });

  it('an expired client certificate does not hide a server name mismatch', async () => {
    const report = await checkAgainst({ identity: pki().serverWrongName }, expiredClient());
    assert.deepEqual(report.diagnoses.map((d) => d.code), ['SERVER_NAME_MISMATCH', 'CLIENT_CERT_EXPIRED']);
    assert.match(report.diagnoses[0].summary, /it names DNS:other\.example/);
    assert.match(report.diagnoses[1].summary, /^Tunnel "payments": your client certificate expired on \d{4}-\d\d-\d\d\.$/);
  });
});

describe('diagnosing a server that got no client certificate it could use', () => {
  it('CLIENT_CERT_REQUIRED: the certificate_required alert of TLS 1.3', async () => {
    // The server asks for RSA signatures only, so our EC certificate cannot answer its
    // CertificateRequest: OpenSSL sends no certificate at all and the server says so with
    // alert 116, after the handshake.
    const server = await startSigalgsServer();
    try {
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'payments', ca: pki().rsaCa }));
      assert.equal(report.handshake?.version, 'TLSv1.3');
      const [d] = report.diagnoses;
      assert.equal(d.code, 'CLIENT_CERT_REQUIRED');
      assert.equal(d.summary, 'Tunnel "payments": the server requires a client certificate and did not get one it would accept.');
      assert.match(d.detail ?? '', /ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED/);
      assert.equal(report.clientCertificateRequired, true);
    } finally {
      await server.close();
    }
  });
});

describe('diagnosing ALPN', () => {
  it('ALPN_REFUSED for postgres-direct against a server that speaks only h2', async () => {
    const report = await checkAgainst({ alpn: ['h2'] }, { protocol: 'postgres-direct' });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'ALPN_REFUSED');
    assert.equal(d.summary, 'Tunnel "payments": the server accepts none of the ALPN protocols offered (postgresql).');
    assert.match(d.fix, /"protocol": "postgres"/);
  });

  it('ALPN_REFUSED for an explicit alpn list', async () => {
    const report = await checkAgainst({ alpn: ['h2'] }, { alpn: ['postgresql', 'http/1.1'] });
    const [d] = report.diagnoses;
    assert.equal(d.code, 'ALPN_REFUSED');
    assert.match(d.summary, /\(postgresql, http\/1\.1\)\.$/);
    assert.match(d.fix, /Set "alpn"/);
  });

  it('a matching ALPN is reported', async () => {
    const report = await checkAgainst({ alpn: ['h2'] }, { alpn: ['h2'] });
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
    assert.equal(report.handshake?.alpn, 'h2');
  });
});

/** A TLS 1.3 server with an RSA key that asks client certificates signed with RSA only. */
function startSigalgsServer(): Promise<MtlsServer> {
  return startMtlsServer(pki(), { identity: pki().rsaServer, sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' });
}
