/**
 * Certificate and key inspection of PEM and DER files, checked against what the openssl command
 * line says about the same files.
 */
import assert from 'node:assert/strict';
import { execFileSync, execSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { FileInspection, formatInspections, inspectFiles, keyMatchesCertificate, splitPem } from '../../src/core/certs';
import { splitSubjectAltNames } from '../../src/core/certs/names';
import { withPki } from '../support/pkiFixture';

const DAY = 86_400_000;
const pki = withPki();

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The pin computed the way the docs tell users to: openssl all the way. */
function opensslSpkiPin(certFile: string): string {
  const q = JSON.stringify(certFile);
  return execSync(`openssl x509 -in ${q} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`, { encoding: 'utf8' }).trim();
}

async function inspectOne(file: string, options: Parameters<typeof inspectFiles>[1] = {}): Promise<FileInspection> {
  const [result] = await inspectFiles([file], options);
  return result;
}

/** Derived files the fixture does not make: other encodings of the same keys, bad inputs. */
const extra = (name: string) => path.join(pki().dir, name);

describe('certificate inspection', () => {
  before(async () => {
    const p = pki();
    const certs = splitPem(await readFile(p.client.cert, 'utf8'));
    await writeFile(extra('client-reversed.crt'), certs.map((b) => b.pem).reverse().join(''));
    await writeFile(extra('client-and-key.pem'), (await readFile(p.client.cert, 'utf8')) + (await readFile(p.client.key, 'utf8')));
    openssl('pkey', '-in', p.rsaClient.key, '-traditional', '-out', extra('rsa-pkcs1.key'));
    openssl('rsa', '-in', p.rsaClient.key, '-traditional', '-aes256', '-passout', 'pass:s3cret', '-out', extra('rsa-pkcs1-encrypted.key'));
    openssl('ec', '-in', p.client.key, '-out', extra('client-sec1.key'));
    openssl('pkcs8', '-topk8', '-in', p.client.key, '-passout', 'pass:s3cret', '-out', extra('client-encrypted.key'));
    openssl('ecparam', '-name', 'secp384r1', '-genkey', '-out', extra('p384-with-params.key'));
    openssl('x509', '-in', p.server.cert, '-outform', 'der', '-out', extra('server.der'));
    openssl('pkey', '-in', p.client.key, '-outform', 'der', '-out', extra('client-key.der'));
    await writeFile(extra('garbage.txt'), 'this is not a certificate\n');
    await writeFile(extra('garbage.bin'), Buffer.from([0x30, 0x82, 0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]));
    await writeFile(extra('request-only.pem'), '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
  });

  describe('certificate summary', () => {
    test('server certificate: names, SANs, EKU, key, and what openssl says', async () => {
      const file = pki().server.cert;
      const result = await inspectOne(file);
      assert.equal(result.error, null);
      assert.equal(result.kind, 'PEM');
      const leaf = result.certificates[0];
      assert.equal(leaf.commonName, 'localhost');
      assert.equal(leaf.subject, 'CN=localhost, O=mTLS Tunnels Test');
      assert.equal(leaf.issuer, 'CN=mTLS Tunnels Test Intermediate CA, O=mTLS Tunnels Test');
      assert.ok(leaf.subjectAltNames.includes('DNS:localhost'), String(leaf.subjectAltNames));
      assert.ok(leaf.subjectAltNames.includes('IP Address:127.0.0.1'), String(leaf.subjectAltNames));
      assert.equal(leaf.subjectAltNames.length, 3);
      assert.deepEqual(leaf.extendedKeyUsage, ['serverAuth']);
      assert.equal(leaf.serverAuth, true);
      assert.equal(leaf.clientAuth, false);
      assert.deepEqual(leaf.publicKey, { type: 'EC', curve: 'P-256', bits: 256 });
      assert.equal(leaf.signatureAlgorithm, 'ecdsa-with-SHA256');
      assert.equal(leaf.ca, false);
      assert.equal(leaf.selfSigned, false);
      assert.equal(leaf.role, 'leaf');
      assert.equal(leaf.status, 'valid');
      assert.ok(leaf.daysLeft >= 363 && leaf.daysLeft <= 365, `daysLeft ${leaf.daysLeft}`);

      assert.equal(leaf.spkiSha256, opensslSpkiPin(file));
      assert.equal(`sha256 Fingerprint=${leaf.sha256Fingerprint}`, openssl('x509', '-in', file, '-noout', '-fingerprint', '-sha256'));
      assert.equal(`serial=${leaf.serialNumber}`, openssl('x509', '-in', file, '-noout', '-serial'));
      assert.equal(leaf.validTo, new Date(openssl('x509', '-in', file, '-noout', '-enddate').replace('notAfter=', '')).toISOString());
    });

    test('RSA and Ed25519 certificates: key type, size, signature algorithm, pin', async () => {
      const rsa = (await inspectOne(pki().rsaClient.cert)).certificates[0];
      assert.deepEqual(rsa.publicKey, { type: 'RSA', curve: null, bits: 2048 });
      assert.equal(rsa.signatureAlgorithm, 'sha256WithRSAEncryption');
      assert.equal(rsa.spkiSha256, opensslSpkiPin(pki().rsaClient.cert));
      assert.deepEqual(rsa.extendedKeyUsage, ['clientAuth']);
      assert.equal(rsa.clientAuth, true);

      const ed = (await inspectOne(pki().ed25519Client.cert)).certificates[0];
      assert.deepEqual(ed.publicKey, { type: 'Ed25519', curve: null, bits: 256 });
      assert.equal(ed.spkiSha256, opensslSpkiPin(pki().ed25519Client.cert));
      // The Ed25519 leaf is signed by the EC intermediate.
      assert.equal(ed.signatureAlgorithm, 'ecdsa-with-SHA256');
    });

    test('root CA is a self-signed CA; a CA bundle gets no chain-order check', async () => {
      const root = (await inspectOne(pki().ca)).certificates[0];
      assert.equal(root.ca, true);
      assert.equal(root.selfSigned, true);
      assert.equal(root.role, 'root');
      assert.equal(root.extendedKeyUsage, null);
      const bundle = await inspectOne(pki().caBundle);
      assert.deepEqual(bundle.certificates.map((c) => c.role), ['root', 'intermediate']);
      assert.equal(bundle.chain, null);
      assert.deepEqual(bundle.warnings, []);
    });

    test('expired certificate: negative days left, status and warning', async () => {
      const result = await inspectOne(pki().clientExpired.cert);
      const leaf = result.certificates[0];
      assert.equal(leaf.status, 'expired');
      assert.equal(leaf.daysLeft, -2);
      assert.ok(result.warnings.some((w) => w.includes('expired 2 days ago')), String(result.warnings));
    });

    test('not-yet-valid certificate: status and warning', async () => {
      const result = await inspectOne(pki().clientNotYetValid.cert);
      assert.equal(result.certificates[0].status, 'not yet valid');
      assert.ok(result.warnings.some((w) => /not valid until \d{4}-\d\d-\d\d \(in 10 days\)/.test(w)), String(result.warnings));
    });

    test('a certificate within 14 days of its end expires soon', async () => {
      const validTo = Date.parse((await inspectOne(pki().client.cert)).certificates[0].validTo);
      const result = await inspectOne(pki().client.cert, { now: new Date(validTo - 5 * DAY) });
      assert.equal(result.certificates[0].status, 'expires soon');
      assert.equal(result.certificates[0].daysLeft, 5);
      assert.ok(result.warnings.some((w) => w.includes('expires in 5 days')), String(result.warnings));
      const later = await inspectOne(pki().client.cert, { now: new Date(validTo - 30 * DAY) });
      assert.equal(later.certificates[0].status, 'valid');
    });

    test('DER certificate', async () => {
      const result = await inspectOne(extra('server.der'));
      assert.equal(result.kind, 'DER');
      assert.equal(result.certificates[0].commonName, 'localhost');
    });

    test('SAN values that contain commas stay whole', () => {
      assert.deepEqual(splitSubjectAltNames('DNS:"a, b", DNS:c, URI:spiffe://x/y'), ['DNS:"a, b"', 'DNS:c', 'URI:spiffe://x/y']);
      assert.deepEqual(splitSubjectAltNames(undefined), []);
    });
  });

  describe('PEM splitting', () => {
    test('CRLF line ends, text around blocks, and legacy encryption headers', () => {
      const text = 'Bag Attributes\r\n    friendlyName: x\r\n-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-256-CBC,00\r\n\r\nAAEC\r\nAwQF\r\n-----END RSA PRIVATE KEY-----\r\n'
        + '-----BEGIN CERTIFICATE-----\nBgcI\n-----END CERTIFICATE-----\n';
      const blocks = splitPem(text);
      assert.deepEqual(blocks.map((b) => b.label), ['RSA PRIVATE KEY', 'CERTIFICATE']);
      assert.deepEqual(blocks[0].headers, { 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': 'AES-256-CBC,00' });
      assert.deepEqual([...blocks[0].der], [0, 1, 2, 3, 4, 5]);
      assert.deepEqual([...blocks[1].der], [6, 7, 8]);
      assert.match(blocks[0].pem, /^-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAECAwQF\n-----END RSA PRIVATE KEY-----\n$/);
    });
  });

  describe('chain order', () => {
    test('leaf then intermediate is in order', async () => {
      const result = await inspectOne(pki().client.cert);
      assert.deepEqual(result.certificates.map((c) => c.role), ['leaf', 'intermediate']);
      assert.deepEqual(result.chain, { inOrder: true, problems: [] });
      assert.deepEqual(result.warnings, []);
    });

    test('reversed chain is detected, with the order that fixes it', async () => {
      const result = await inspectOne(extra('client-reversed.crt'));
      assert.equal(result.chain?.inOrder, false);
      assert.match(result.chain?.problems[0] ?? '', /chain out of order: .*order 2, 1/);
      assert.ok(result.warnings.some((w) => w.startsWith('chain out of order')));
    });

    test('a certificate from another CA breaks the chain and is named', async () => {
      const mixed = extra('mixed-chain.crt');
      await writeFile(mixed, (await readFile(pki().client.cert, 'utf8')).split(/(?<=-----END CERTIFICATE-----\n)/)[0] + (await readFile(pki().rogueCa, 'utf8')));
      const result = await inspectOne(mixed);
      assert.equal(result.chain?.inOrder, false);
      assert.match(result.chain?.problems[0] ?? '', /certificate 1 \(CN=alice.*\) is not issued by certificate 2 \(CN=Rogue CA/);
    });
  });

  describe('private keys', () => {
    test('a key is matched to its certificate in another file', async () => {
      const [cert, key] = await inspectFiles([pki().client.cert, pki().client.key]);
      assert.equal(cert.error, null);
      assert.deepEqual(key.keys, [{
        format: 'PKCS#8',
        encrypted: false,
        algorithm: { type: 'EC', curve: 'P-256', bits: 256 },
        spkiSha256: cert.certificates[0].spkiSha256,
        matches: { file: pki().client.cert, index: 0 },
      }]);
      assert.deepEqual(key.warnings, []);
    });

    test('a key that belongs to no certificate is flagged', async () => {
      const [, key] = await inspectFiles([pki().client.cert, pki().rsaClient.key]);
      assert.equal(key.keys[0].matches, null);
      assert.ok(key.warnings.includes('private key 1 does not match any certificate'), String(key.warnings));
    });

    test('a key alone is not flagged for having no certificate to compare', async () => {
      const key = await inspectOne(pki().client.key);
      assert.equal(key.keys[0].matches, null);
      assert.deepEqual(key.warnings, []);
    });

    test('certificate and key in one PEM file', async () => {
      const result = await inspectOne(extra('client-and-key.pem'));
      assert.equal(result.certificates.length, 2);
      assert.deepEqual(result.keys[0].matches, { file: extra('client-and-key.pem'), index: 0 });
    });

    test('Ed25519 key', async () => {
      const [, key] = await inspectFiles([pki().ed25519Client.cert, pki().ed25519Client.key]);
      assert.deepEqual(key.keys[0].algorithm, { type: 'Ed25519', curve: null, bits: 256 });
      assert.deepEqual(key.keys[0].matches, { file: pki().ed25519Client.cert, index: 0 });
    });

    test('PKCS#1 RSA and SEC1 EC keys', async () => {
      const [, rsa] = await inspectFiles([pki().rsaClient.cert, extra('rsa-pkcs1.key')]);
      assert.equal(rsa.keys[0].format, 'PKCS#1');
      assert.deepEqual(rsa.keys[0].algorithm, { type: 'RSA', curve: null, bits: 2048 });
      assert.deepEqual(rsa.keys[0].matches, { file: pki().rsaClient.cert, index: 0 });
      const [, ec] = await inspectFiles([pki().client.cert, extra('client-sec1.key')]);
      assert.equal(ec.keys[0].format, 'SEC1');
      assert.deepEqual(ec.keys[0].matches, { file: pki().client.cert, index: 0 });
    });

    test('EC PARAMETERS before a SEC1 key are skipped silently', async () => {
      const result = await inspectOne(extra('p384-with-params.key'));
      assert.equal(result.keys.length, 1);
      assert.deepEqual(result.keys[0].algorithm, { type: 'EC', curve: 'P-384', bits: 384 });
      assert.deepEqual(result.warnings, []);
    });

    test('DER PKCS#8 key', async () => {
      const [, key] = await inspectFiles([pki().client.cert, extra('client-key.der')]);
      assert.equal(key.kind, 'DER');
      assert.deepEqual(key.keys[0].matches, { file: pki().client.cert, index: 0 });
    });

    test('encrypted PKCS#8: read with the passphrase, reported without it, refused with a wrong one', async () => {
      const file = extra('client-encrypted.key');
      const [, withPass] = await inspectFiles([pki().client.cert, file], { passphrase: 's3cret' });
      assert.equal(withPass.keys[0].encrypted, true);
      assert.deepEqual(withPass.keys[0].algorithm, { type: 'EC', curve: 'P-256', bits: 256 });
      assert.deepEqual(withPass.keys[0].matches, { file: pki().client.cert, index: 0 });

      const withoutPass = await inspectOne(file);
      assert.equal(withoutPass.error, null);
      assert.equal(withoutPass.keys[0].encrypted, true);
      assert.equal(withoutPass.keys[0].algorithm, null);
      assert.ok(withoutPass.warnings.some((w) => w.includes('is encrypted')), String(withoutPass.warnings));

      const wrong = await inspectOne(file, { passphrase: 'nope' });
      assert.equal(wrong.error?.code, 'wrong-passphrase');
      assert.equal(wrong.error?.message, `wrong passphrase for ${file}`);
    });

    test('legacy encrypted PKCS#1 (Proc-Type header)', async () => {
      const [, key] = await inspectFiles([pki().rsaClient.cert, extra('rsa-pkcs1-encrypted.key')], { passphrase: 's3cret' });
      assert.equal(key.keys[0].format, 'PKCS#1');
      assert.equal(key.keys[0].encrypted, true);
      assert.deepEqual(key.keys[0].matches, { file: pki().rsaClient.cert, index: 0 });
    });
  });

  describe('keyMatchesCertificate', () => {
    test('true for a pair, false otherwise, for every key type', async () => {
      const read = (f: string) => readFile(f, 'utf8');
      const p = pki();
      assert.equal(keyMatchesCertificate(await read(p.client.cert), await read(p.client.key)), true);
      assert.equal(keyMatchesCertificate(await read(p.rsaClient.cert), await read(p.rsaClient.key)), true);
      assert.equal(keyMatchesCertificate(await read(p.ed25519Client.cert), await read(p.ed25519Client.key)), true);
      assert.equal(keyMatchesCertificate(await read(p.client.cert), await read(p.server.key)), false);
      assert.equal(keyMatchesCertificate(await read(p.client.cert), await read(p.rsaClient.key)), false);
      assert.equal(keyMatchesCertificate(await read(p.client.cert), await read(extra('client-encrypted.key')), 's3cret'), true);
      assert.throws(() => keyMatchesCertificate('not pem', 'not pem'));
    });
  });

  describe('files that cannot be inspected', () => {
    test('missing file', async () => {
      const file = extra('missing.crt');
      const result = await inspectOne(file);
      assert.deepEqual(result.error, { code: 'not-found', message: `no such file: ${file}` });
    });

    test('text and binary garbage, and PEM with nothing usable', async () => {
      for (const name of ['garbage.txt', 'garbage.bin', 'request-only.pem']) {
        const result = await inspectOne(extra(name));
        assert.equal(result.error?.code, 'unrecognized', name);
        assert.equal(result.error?.message, `${extra(name)} is not a certificate, key or PKCS#12 bundle`);
      }
    });

    test('a directory', async () => {
      const result = await inspectOne(pki().dir);
      assert.equal(result.error?.code, 'unreadable');
    });

    test('one bad file does not spoil the others', async () => {
      const [bad, good] = await inspectFiles([extra('missing.crt'), pki().client.cert]);
      assert.equal(bad.error?.code, 'not-found');
      assert.equal(good.error, null);
      assert.equal(good.certificates.length, 2);
    });
  });

  describe('text rendering', () => {
    test('one aligned block per certificate, warnings last, no key material', async () => {
      const results = await inspectFiles([extra('client-reversed.crt'), pki().server.cert, pki().client.key, extra('missing.crt')]);
      const text = formatInspections(results);
      assert.match(text, /Certificate 1 of 2 \(intermediate\)/);
      assert.match(text, /Certificate 2 of 2 \(leaf\)/);
      assert.match(text, /^ {4}Subject: {4}CN=localhost, O=mTLS Tunnels Test$/m);
      assert.match(text, /^ {4}SANs: {7}DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1$/m);
      assert.match(text, /^ {4}Valid: {6}\d{4}-\d\d-\d\d → \d{4}-\d\d-\d\d \(36[345] days left\)$/m);
      assert.match(text, /^ {4}Key: {8}EC P-256$/m);
      assert.match(text, /^ {4}EKU: {8}serverAuth \(not for client authentication\)$/m);
      assert.match(text, /^ {4}SPKI pin: {3}[A-Za-z0-9+/]{43}=$/m);
      assert.match(text, /^ {2}Warning: chain out of order/m);
      assert.match(text, /Private key 1 of 1/);
      assert.ok(!text.includes('missing.crt'), 'failed files are reported by the caller, on stderr');
      const keyBody = splitPem(await readFile(pki().client.key, 'utf8'))[0].der.toString('base64');
      assert.ok(!text.includes(keyBody.slice(20, 60)), 'private key material must never be printed');
      assert.ok(!JSON.stringify(results).includes(keyBody.slice(20, 60)));
    });
  });
});
