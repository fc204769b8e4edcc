/**
 * The handshake doctor end to end against real servers: what a healthy check reports, what it
 * sends (nothing but the handshake), the warnings it adds, the text it prints, and `runCheck`'s
 * exit codes.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { runCheck } from '../../src/cli/check';
import { CheckReport, checkTunnel, formatCheckReport } from '../../src/core/doctor';
import { writePkcs12 } from '../../src/core/pki/testPki';
import { MtlsServerOptions, startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { listenLocal, unusedPort } from '../support/ports';
import { startRawServer } from '../support/rawServers';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();
const DAY = 86_400_000;

/** A test server that counts the application bytes it receives (the doctor must send none). */
async function withServer<T>(options: MtlsServerOptions, body: (port: number, bytesReceived: () => number) => Promise<T>): Promise<T> {
  let bytes = 0;
  const server = await startMtlsServer(pki(), { ...options, handler: (s) => s.on('data', (d: Buffer) => (bytes += d.length)) });
  try {
    return await body(server.port, () => bytes);
  } finally {
    await server.close();
  }
}

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) }, out: () => out.join(''), err: () => err.join('') };
}

describe('checkTunnel on a healthy tunnel', () => {
  it('reports timings, TLS 1.3, the two certificates the server sent, and that it requires a client certificate', async () => {
    await withServer({}, async (port, bytesReceived) => {
      const report = await checkTunnel(tunnelConfig(pki(), port, { name: 'healthy' }));
      assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
      assert.deepEqual(report.diagnoses, []);
      assert.equal(report.tunnel, 'healthy');
      assert.equal(report.target, `127.0.0.1:${port}`);
      assert.equal(report.address, '127.0.0.1');

      const t = report.timings!;
      for (const phase of ['dnsMs', 'tcpMs', 'tlsMs'] as const) assert.ok(typeof t[phase] === 'number' && t[phase]! >= 0, `${phase} = ${t[phase]}`);
      assert.ok(t.tlsMs! > 0);
      assert.equal(t.preambleMs, undefined, 'protocol tls has no preamble');

      assert.equal(report.handshake?.version, 'TLSv1.3');
      assert.match(report.handshake!.cipher, /^TLS_/);
      assert.equal(report.handshake?.alpn, false);
      assert.equal(report.handshake?.resumed, false);

      assert.equal(report.serverChain.length, 2, 'leaf and intermediate, as the server sent them');
      const [leaf, intermediate] = report.serverChain;
      assert.equal(leaf.subject, 'CN=localhost, O=mTLS Tunnels Test');
      assert.equal(leaf.issuer, 'CN=mTLS Tunnels Test Intermediate CA, O=mTLS Tunnels Test');
      assert.deepEqual(leaf.subjectAltNames.slice(0, 2), ['DNS:localhost', 'IP:127.0.0.1']);
      assert.ok(leaf.daysLeft >= 363 && leaf.daysLeft <= 366, `${leaf.daysLeft} days left`);
      assert.equal(intermediate.subject, 'CN=mTLS Tunnels Test Intermediate CA, O=mTLS Tunnels Test');
      assert.equal(report.trustAnchor?.subject, 'CN=mTLS Tunnels Test Root CA, O=mTLS Tunnels Test');

      assert.equal(report.clientCertificateRequired, true);
      assert.equal(report.clientCertificate?.subject, 'CN=alice, O=mTLS Tunnels Test');
      assert.equal(bytesReceived(), 0, 'no application byte was sent');
    });
  });

  it('TLS 1.2 is reported as such', async () => {
    await withServer({ maxVersion: 'TLSv1.2' }, async (port) => {
      const report = await checkTunnel(tunnelConfig(pki(), port));
      assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
      assert.equal(report.handshake?.version, 'TLSv1.2');
      assert.equal(report.clientCertificateRequired, true);
    });
  });

  it('protocol postgres: times the SSLRequest, and after the handshake sends only the login check (a StartupMessage, then Terminate)', async () => {
    let plaintext: Buffer = Buffer.alloc(0);
    let afterHandshake: Buffer = Buffer.alloc(0);
    let terminated!: () => void;
    const sawTerminate = new Promise<void>((resolve) => (terminated = resolve));
    let closedCleanly = false;
    const server = await startMtlsServer(pki(), {
      // Everything that arrives before our `S` is the plaintext the doctor sent.
      preamble: (raw) => new Promise((resolve) => raw.once('data', (chunk: Buffer) => {
        raw.pause();
        plaintext = chunk;
        raw.write('S');
        resolve(true);
      })),
      handler: (secure) => {
        secure.on('data', (d: Buffer) => {
          afterHandshake = Buffer.concat([afterHandshake, d]);
          // AuthenticationOk and ReadyForQuery, once the StartupMessage is in.
          if (afterHandshake.length >= 4 && afterHandshake.length === afterHandshake.readUInt32BE(0)) secure.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]));
          if (afterHandshake[afterHandshake.length - 5] === 0x58) terminated();
        });
        secure.on('end', () => {
          closedCleanly = true;
          secure.end();
        });
      },
    });
    try {
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'pg', protocol: 'postgres' }));
      assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
      assert.ok(typeof report.timings?.preambleMs === 'number' && report.timings.preambleMs >= 0);
      assert.deepEqual(plaintext, Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), 'exactly one SSLRequest in plaintext');
      await sawTerminate;
      const startup = Buffer.from('\0\0\0\0\0\x03\0\0user\0alice\0database\0alice\0application_name\0mtls-tunnels check\0\0', 'latin1');
      startup.writeUInt32BE(startup.length, 0);
      assert.deepEqual(afterHandshake, Buffer.concat([startup, Buffer.from([0x58, 0, 0, 0, 4])]), 'one StartupMessage as the certificate\'s CN, then Terminate');
      assert.equal(report.login?.answer, 'AuthenticationOk');
      assert.ok(closedCleanly, 'closed with close_notify and FIN, not a reset');
      assert.equal(report.clientCertificateRequired, true);
      assert.match(formatCheckReport(report), /SSLRequest \d+(\.\d)? ms/);
    } finally {
      await server.close();
    }
  });

  it('PKCS#12 credentials: our certificate is read from the handshake', async () => {
    const pfx = await writePkcs12(path.join(pki().dir, 'doctor-rsa-client.p12'), pki().rsaClient, 'correct horse');
    await withServer({ clientCa: pki().rsaCa }, async (port) => {
      const base = { name: 'p12', cert: undefined, key: undefined, pfx };
      const ok = await checkTunnel(tunnelConfig(pki(), port, base), { passphrase: 'correct horse' });
      assert.equal(ok.verdict, 'ok', JSON.stringify(ok.diagnoses));
      assert.equal(ok.clientCertificate?.issuer, 'CN=mTLS Tunnels Test RSA CA, O=mTLS Tunnels Test');

      const wrong = await checkTunnel(tunnelConfig(pki(), port, base), { passphrase: 'battery staple' });
      assert.deepEqual(wrong.diagnoses.map((d) => d.code), ['WRONG_PASSPHRASE']);
      assert.equal(wrong.diagnoses[0].summary, `Tunnel "p12": the passphrase for ${pfx} is wrong.`);
    });
  });
});

describe('checkTunnel warnings', () => {
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`CLIENT_CERT_NOT_REQUESTED when the server lets a connection without a certificate through (${maxVersion})`, async () => {
      await withServer({ requestCert: false, maxVersion }, async (port) => {
        const report = await checkTunnel(tunnelConfig(pki(), port, { name: 'open-door' }));
        assert.equal(report.verdict, 'warning');
        assert.equal(report.clientCertificateRequired, false);
        assert.equal(report.diagnoses.length, 1);
        const [d] = report.diagnoses;
        assert.equal(d.code, 'CLIENT_CERT_NOT_REQUESTED');
        assert.equal(d.severity, 'warning');
        assert.equal(d.summary, `Tunnel "open-door": 127.0.0.1:${port} did not require a client certificate during the TLS handshake: a connection without one got through.`);
        assert.match(d.fix, /nginx/);
        assert.match(formatCheckReport(report), /Client certificate: NOT required \(warning\)/);
      });
    });
  }

  it('CLIENT_CERT_EXPIRES_SOON within 14 days, with the date', async () => {
    const notAfter = new Date(Date.now() + 5 * DAY + 3_600_000);
    const issued = await pki().intermediate.issue({ commonName: 'alice', usage: 'client', notBefore: new Date(Date.now() - 300 * DAY), notAfter });
    const cert = path.join(pki().dir, 'client-soon.crt');
    const key = path.join(pki().dir, 'client-soon.key');
    await writeFile(cert, issued.chainPem);
    await writeFile(key, issued.keyPem);
    await withServer({}, async (port) => {
      const report = await checkTunnel(tunnelConfig(pki(), port, { name: 'renew-me', cert, key }));
      assert.equal(report.verdict, 'warning');
      const [d] = report.diagnoses;
      assert.equal(d.code, 'CLIENT_CERT_EXPIRES_SOON');
      assert.equal(d.summary, `Tunnel "renew-me": your client certificate expires on ${notAfter.toISOString().slice(0, 10)}, in 5 days.`);
      assert.match(d.fix, /client-soon\.crt/);
    });
  });

  it('protocol mysql: a target that does not greet like MySQL is named as such', async () => {
    const plain = net.createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
    await listenLocal(plain);
    try {
      const report = await checkTunnel(tunnelConfig(pki(), (plain.address() as net.AddressInfo).port, { name: 'maria', protocol: 'mysql' }));
      assert.equal(report.verdict, 'failed');
      assert.equal(report.diagnoses[0].code, 'TARGET_SPEAKS_PLAINTEXT');
      assert.match(report.diagnoses[0].summary, /^Tunnel "maria": /);
      assert.match(report.diagnoses[0].detail ?? '', /not a MySQL\/MariaDB server/);
    } finally {
      plain.close();
    }
  });
});

describe('formatCheckReport', () => {
  it('prints aligned timings, the TLS line, the chain, the client certificate line and the verdict', async () => {
    await withServer({}, async (port) => {
      const text = formatCheckReport(await checkTunnel(tunnelConfig(pki(), port, { name: 'healthy' })));
      assert.match(text, new RegExp(`^Tunnel "healthy" → 127\\.0\\.0\\.1:${port} \\(tls, server name localhost\\)\\n`));
      assert.match(text, /\n {2}Timings {5}DNS \d+(\.\d)? ms · TCP \d+(\.\d)? ms · TLS \d+(\.\d)? ms\n/);
      assert.match(text, /\n {2}TLS {9}TLS 1\.3, TLS_\w+, ALPN —\n/);
      assert.match(text, /\n {2}Server chain\n {4}0 {2}CN=localhost, O=mTLS Tunnels Test\n {7}issued by CN=mTLS Tunnels Test Intermediate CA/);
      assert.match(text, /\n {7}valid \d{4}-\d\d-\d\d → \d{4}-\d\d-\d\d \(36\d days left\)\n {7}SANs DNS:localhost, IP:127\.0\.0\.1/);
      assert.match(text, /\n {4}1 {2}CN=mTLS Tunnels Test Intermediate CA/);
      assert.match(text, /\n {4}trusted through CN=mTLS Tunnels Test Root CA/);
      assert.match(text, /\n {2}Client certificate: required by server\n/);
      assert.match(text, /\n {2}Verdict: OK, the tunnel would work\.\n$/);
    });
  });

  it('prints each diagnosis as ✗ summary and → fix', async () => {
    const port = await unusedPort();
    const text = formatCheckReport(await checkTunnel(tunnelConfig(pki(), port, { name: 'down' })));
    assert.match(text, new RegExp(`\\n {2}✗ Tunnel "down": nothing is listening at 127\\.0\\.0\\.1:${port} \\(connection refused\\)\\.\\n {4}→ Check the port in "target"`));
    assert.match(text, /\n {2}Verdict: FAILED, the tunnel would not work\.\n$/);
    assert.doesNotMatch(text, /Client certificate:/, 'unknown when the server was never reached');
  });

  it('prints a report as plain text, with no key material', () => {
    const report: CheckReport = {
      tunnel: 't', target: 'db.example:5432', protocol: 'postgres', serverName: 'db.example', verdict: 'warning', address: '10.0.0.5',
      timings: { dnsMs: 0.41, tcpMs: 0.22, preambleMs: 0.3, tlsMs: 5.12 },
      handshake: { version: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256', alpn: 'postgresql', resumed: true },
      serverChain: [], clientCertificateRequired: false,
      diagnoses: [{ code: 'CLIENT_CERT_NOT_REQUESTED', severity: 'warning', summary: 'Tunnel "t": a warning.', fix: 'Do this.' }],
    };
    const text = formatCheckReport(report);
    assert.match(text, /Address {5}10\.0\.0\.5/);
    assert.match(text, /Timings {5}DNS 0\.4 ms · TCP 0\.2 ms · SSLRequest 0\.3 ms · TLS 5\.1 ms/);
    assert.match(text, /TLS {9}TLS 1\.2, ECDHE-RSA-AES128-GCM-SHA256, ALPN postgresql, session resumed/);
    assert.match(text, /⚠ Tunnel "t": a warning\.\n {4}→ Do this\./);
    assert.match(text, /Verdict: WARNING/);
  });
});

describe('runCheck', () => {
  it('exits 0 when every tunnel would work, warnings included', async () => {
    await withServer({}, async (strict) => {
      await withServer({ requestCert: false }, async (lax) => {
        const { io, out, err } = captureIo();
        const code = await runCheck([tunnelConfig(pki(), strict, { name: 'strict' }), tunnelConfig(pki(), lax, { name: 'lax' })], io);
        assert.equal(code, 0);
        assert.equal(err(), '');
        assert.match(out(), /Tunnel "strict" → .*\n[\s\S]*Verdict: OK/);
        assert.ok(out().includes(`Tunnel "lax": 127.0.0.1:${lax} did not require a client certificate during the TLS handshake`), out());
        assert.match(out(), /2 tunnels checked: 1 ok, 1 with warnings, 0 failed\./);
        assert.ok(out().indexOf('Tunnel "strict"') < out().indexOf('Tunnel "lax"'), 'reports come in the order given');
      });
    });
  });

  it('exits 1 when any tunnel would fail, and says why in a plain sentence', async () => {
    const refused = await unusedPort();
    await withServer({}, async (port) => {
      const { io, out } = captureIo();
      const code = await runCheck([tunnelConfig(pki(), port, { name: 'up' }), tunnelConfig(pki(), refused, { name: 'down' })], io);
      assert.equal(code, 1);
      assert.ok(out().includes(`✗ Tunnel "down": nothing is listening at 127.0.0.1:${refused} (connection refused).`), out());
      assert.match(out(), /Verdict: FAILED, the tunnel would not work\./);
    });
  });

  it('checks tunnels in parallel: all three probes are open at the server at once', async () => {
    // A server that never answers holds each probe until its 500 ms connect timeout: checked one
    // after another, no two probes would be open at the same time.
    // (After its timeout each check also asks the port what it is, on connections of its own,
    // one after another: only connections that opened with a ClientHello are counted, and one
    // check never has two of those open at once.)
    let open = 0;
    let mostOpen = 0;
    const silent = await startRawServer((socket) => {
      socket.once('data', (first: Buffer) => {
        if (first[0] !== 0x16) return;
        mostOpen = Math.max(mostOpen, ++open);
        socket.once('close', () => open--);
      });
    });
    try {
      const { io, out } = captureIo();
      const tunnels = ['a', 'b', 'c'].map((name) => tunnelConfig(pki(), silent.port, { name, connectTimeoutMs: 500 }));
      assert.equal(await runCheck(tunnels, io), 1);
      assert.ok(mostOpen >= 3, `the three checks overlapped at the server (at most ${mostOpen} ClientHellos open at once)`);
      assert.match(out(), /3 tunnels checked: 0 ok, 0 with warnings, 3 failed\./);
    } finally {
      await silent.close();
    }
  });

  it('--json prints the reports as a JSON array', async () => {
    await withServer({}, async (port) => {
      const { io, out } = captureIo();
      const code = await runCheck([tunnelConfig(pki(), port, { name: 'j' })], io, { json: true });
      assert.equal(code, 0);
      const reports = JSON.parse(out()) as CheckReport[];
      assert.equal(reports.length, 1);
      assert.equal(reports[0].tunnel, 'j');
      assert.equal(reports[0].verdict, 'ok');
      assert.equal(reports[0].handshake?.version, 'TLSv1.3');
    });
  });

  it('passes each tunnel its passphrase', async () => {
    const pfx = await writePkcs12(path.join(pki().dir, 'runcheck.p12'), pki().rsaClient, 'pw-for-p12');
    await withServer({ clientCa: pki().rsaCa }, async (port) => {
      const { io, out } = captureIo();
      const asked: string[] = [];
      const code = await runCheck([tunnelConfig(pki(), port, { name: 'p12', cert: undefined, key: undefined, pfx })], io, {
        passphrase: (t) => {
          asked.push(t.name);
          return 'pw-for-p12';
        },
      });
      assert.equal(code, 0, out());
      assert.deepEqual(asked, ['p12']);
      assert.ok(!out().includes('pw-for-p12'), 'the passphrase is never printed');
    });
  });

  it('exits 1 with a message when there is nothing to check', async () => {
    const { io, err } = captureIo();
    assert.equal(await runCheck([], io), 1);
    assert.match(err(), /no tunnels to check/);
  });
});

