/**
 * How the editor says the core's sentences: the CLI's `mtls-tunnels inspect …` advice becomes the
 * Inspect Certificates command (a .vsix user has no CLI on the PATH), code spans become quotes, and
 * each runtime diagnosis points at the settings field that explains it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/core/config/model';
import { configMessage, editorText, fieldMessage, fieldOfDiagnosis } from '../../src/vscode/diagnosisFields';

describe('editor words', () => {
  test('no CLI advice and no backticks in what the editor shows', () => {
    assert.equal(
      editorText('Check that the server trusts the CA that issued it: `mtls-tunnels inspect /home/a/client.crt`, and ask the operators.'),
      'Check that the server trusts the CA that issued it: Inspect Certificates, and ask the operators.',
    );
    assert.equal(editorText('get one with `openssl x509 -pubkey`'), 'get one with "openssl x509 -pubkey"');
  });

  test('a runtime diagnosis points at its field', () => {
    assert.equal(fieldOfDiagnosis({ code: 'FILE_MISSING', summary: 'Tunnel "db": the ca file /x/ca.crt does not exist.' }), 'ca');
    assert.equal(fieldOfDiagnosis({ code: 'KEY_CERT_MISMATCH', summary: '' }), 'key');
    assert.equal(fieldOfDiagnosis({ code: 'WRONG_PASSPHRASE', summary: '' }, { pfx: '/x/id.p12' }), 'pfx');
    assert.equal(fieldOfDiagnosis({ code: 'SERVER_CERT_UNTRUSTED', summary: '' }), 'ca');
    assert.equal(fieldOfDiagnosis({ code: 'SERVER_NAME_MISMATCH', summary: '' }), 'serverName');
    assert.equal(fieldOfDiagnosis({ code: 'PORT_IN_USE', summary: '' }), 'listen');
    assert.equal(fieldOfDiagnosis({ code: 'CONNECTION_REFUSED', summary: '' }), 'target');
    assert.equal(fieldOfDiagnosis({ code: 'CLIENT_CHAIN_INCOMPLETE', summary: '' }), 'cert');
    assert.equal(fieldOfDiagnosis({ code: 'SERVER_CHAIN_INCOMPLETE', summary: '' }), 'ca');
    assert.equal(fieldOfDiagnosis({ code: 'WRONG_PROTOCOL', summary: '' }), 'protocol');
    assert.equal(fieldOfDiagnosis({ code: 'LOGIN_DATABASE_MISSING', summary: '' }), 'database');
    assert.equal(fieldOfDiagnosis({ code: 'SERVER_CERT_REVOKED', summary: '' }), 'crl');
    assert.equal(fieldOfDiagnosis({ code: 'PROXY_DENIED', summary: '' }, { proxy: { host: 'p', port: 1, url: 'http://p:1', source: 'settings' } }), 'proxy');
  });

  test('settings problems: the Problems entry leaves the field to its range, the notification names it', () => {
    const typo = new ConfigError('pg', 'cetr', 'unknown field; did you mean "cert"?', { index: 1, path: ['cetr'], target: 'key' });
    assert.equal(configMessage(typo), 'Tunnel "pg": unknown field "cetr"; did you mean "cert"?');
    assert.equal(fieldMessage(typo), 'unknown field "cetr"; did you mean "cert"?');
    const listen = new ConfigError('#3', 'listen', '0.0.0.0 is not a loopback address', { index: 2 });
    assert.equal(configMessage(listen), 'Tunnel #3: 0.0.0.0 is not a loopback address');
    assert.equal(fieldMessage(listen), '"listen": 0.0.0.0 is not a loopback address');
    assert.equal(fieldMessage(new ConfigError('#1', 'name', 'is required', { index: 0, missing: true })), '"name" is required');
  });
});
