/**
 * The path handling of the credential watcher, with Windows' and POSIX semantics alike: where a
 * symlink's target is, and which folders are watched for which names.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { credentialFiles, linkTarget, watchPlan } from '../../src/core/tunnel/credentialWatcher';

describe('credential watch paths', () => {
  test('a link target is read against the link\'s folder (Windows)', () => {
    const w = path.win32;
    assert.equal(linkTarget(w, 'C:\\certs\\tls.crt', '..data\\tls.crt'), 'C:\\certs\\..data\\tls.crt');
    assert.equal(linkTarget(w, 'C:\\certs\\tls.crt', '..data/tls.crt'), 'C:\\certs\\..data\\tls.crt');
    assert.equal(linkTarget(w, 'C:\\certs\\live\\cert.pem', '..\\archive\\cert2.pem'), 'C:\\certs\\archive\\cert2.pem');
    assert.equal(linkTarget(w, 'C:\\certs\\cert.pem', 'D:\\pki\\client.pem'), 'D:\\pki\\client.pem');
    // The long form Windows may give for an absolute target names the same file.
    assert.equal(linkTarget(w, 'C:\\certs\\cert.pem', '\\\\?\\D:\\pki\\client.pem'), 'D:\\pki\\client.pem');
    assert.equal(linkTarget(w, '\\\\server\\share\\certs\\cert.pem', 'client.pem'), '\\\\server\\share\\certs\\client.pem');
  });

  test('a link target is read against the link\'s folder (POSIX)', () => {
    const p = path.posix;
    assert.equal(linkTarget(p, '/etc/secret/tls.crt', '..data/tls.crt'), '/etc/secret/..data/tls.crt');
    assert.equal(linkTarget(p, '/etc/live/cert.pem', '../archive/cert2.pem'), '/etc/archive/cert2.pem');
    assert.equal(linkTarget(p, '/etc/live/cert.pem', '/srv/pki/c.pem'), '/srv/pki/c.pem');
  });

  test('one watch per folder, with every name in it; Windows and macOS names without case', () => {
    const places = [
      { dir: 'C:\\Certs', name: 'Client.crt' },
      { dir: 'c:\\certs', name: 'client.key' },
      { dir: 'C:\\Certs\\..2026_12_02', name: 'tls.crt' },
    ];
    const folded = watchPlan(places, true);
    assert.deepEqual([...folded.keys()], ['C:\\Certs', 'C:\\Certs\\..2026_12_02']);
    assert.deepEqual([...folded.get('C:\\Certs')!], ['client.crt', 'client.key']);
    const exact = watchPlan(places, false);
    assert.deepEqual([...exact.keys()], ['C:\\Certs', 'c:\\certs', 'C:\\Certs\\..2026_12_02']);
    assert.deepEqual([...exact.get('C:\\Certs')!], ['Client.crt']);
  });

  test('the files watched: cert alone for a combined PEM, pfx instead of cert and key', () => {
    assert.deepEqual(credentialFiles({ cert: '/c/client.pem', ca: '/c/ca.pem' }), ['/c/client.pem', '/c/ca.pem']);
    assert.deepEqual(credentialFiles({ cert: '/c/c.crt', key: '/c/c.key', crl: '/c/ca.crl' }), ['/c/c.crt', '/c/c.key', '/c/ca.crl']);
    assert.deepEqual(credentialFiles({ pfx: 'C:\\c\\client.p12', cert: 'C:\\c\\ignored.crt' }), ['C:\\c\\client.p12']);
  });
});
