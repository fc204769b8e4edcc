/**
 * Certificate dates have one reading (certs/validity.ts): days left round towards less time,
 * "expires soon" is EXPIRES_SOON_DAYS, and the tunnel at start, the doctor and `inspect` say the
 * same thing about the same certificate.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { EXPIRES_SOON_DAYS, daysLeft, daysUntil, inspectFiles, validityOf } from '../../src/core/certs';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { checkTunnel } from '../../src/core/doctor';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const now = new Date('2026-06-15T12:00:00Z');
const at = (ms: number) => new Date(now.getTime() + ms).toISOString();
const pki = withPki();

describe('certificate validity', () => {
  test('days left round towards less time: 23 hours is 0 days, one hour past is -1', () => {
    assert.equal(daysLeft(new Date(at(23 * HOUR)), now), 0);
    assert.equal(daysLeft(new Date(at(DAY)), now), 1);
    assert.equal(daysLeft(new Date(at(-HOUR)), now), -1);
    assert.equal(daysLeft(new Date(at(-3 * DAY - HOUR)), now), -3);
    assert.equal(daysUntil(at(HOUR), now), 1);
  });

  test(`status: expires soon within ${EXPIRES_SOON_DAYS} days, expired after validTo, not yet valid before validFrom`, () => {
    const status = (from: number, to: number) => validityOf({ validFrom: at(from), validTo: at(to) }, now).status;
    assert.equal(status(-DAY, EXPIRES_SOON_DAYS * DAY + HOUR), 'expires soon');
    assert.equal(status(-DAY, (EXPIRES_SOON_DAYS + 1) * DAY + HOUR), 'valid');
    assert.equal(status(-2 * DAY, -HOUR), 'expired');
    assert.equal(status(HOUR, 300 * DAY), 'not yet valid');
    // A TLS socket's peer certificate spells its dates differently; the answer is the same.
    assert.equal(validityOf({ valid_from: at(-2 * DAY), valid_to: at(-HOUR) }, now).status, 'expired');
  });

  test('the tunnel at start, the doctor and inspect agree on a certificate that expires in 5 days', async (t) => {
    const notAfter = new Date(Date.now() + 5 * DAY + HOUR);
    const issued = await pki().intermediate.issue({ commonName: 'alice', usage: 'client', notBefore: new Date(Date.now() - 300 * DAY), notAfter });
    const cert = path.join(pki().dir, 'soon.crt');
    const key = path.join(pki().dir, 'soon.key');
    await writeFile(cert, issued.chainPem);
    await writeFile(key, issued.keyPem);
    const server = await startMtlsServer(pki());
    t.after(() => server.close());
    const config = tunnelConfig(pki(), server.port, { name: 'soon', cert, key });

    const tunnel = new Tunnel(config, { watchCredentials: false });
    const atStart: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => atStart.push(d));
    t.after(() => tunnel.stop());
    await tunnel.start();
    const report = await checkTunnel(config);
    const [inspected] = await inspectFiles([cert]);

    const sentence = `Tunnel "soon": your client certificate expires on ${notAfter.toISOString().slice(0, 10)}, in 5 days.`;
    assert.deepEqual(atStart.map((d) => [d.code, d.summary]), [['CLIENT_CERT_EXPIRES_SOON', sentence]]);
    assert.deepEqual(report.diagnoses.map((d) => [d.code, d.summary]), [['CLIENT_CERT_EXPIRES_SOON', sentence]]);
    assert.equal(report.clientCertificate?.daysLeft, 5);
    assert.equal(report.clientCertificate?.status, 'expires soon');
    assert.equal(inspected.certificates[0].status, 'expires soon');
    assert.equal(inspected.certificates[0].daysLeft, 5);
  });

  test('a tunnel started with an expired client certificate warns with the date, naming the file', async (t) => {
    const tunnel = new Tunnel(tunnelConfig(pki(), 1, { name: 'stale', cert: pki().clientExpired.cert, key: pki().clientExpired.key }), { watchCredentials: false });
    const atStart: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => atStart.push(d));
    t.after(() => tunnel.stop());
    await tunnel.start();
    assert.equal(atStart.length, 1);
    assert.equal(atStart[0].code, 'CLIENT_CERT_EXPIRED');
    assert.equal(atStart[0].severity, 'warning');
    assert.match(atStart[0].summary, /^Tunnel "stale": your client certificate expired on \d{4}-\d{2}-\d{2}; servers will refuse it\.$/);
    assert.ok(atStart[0].fix.includes(pki().clientExpired.cert), atStart[0].fix);
  });
});
