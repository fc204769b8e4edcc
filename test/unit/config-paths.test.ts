/**
 * Every settings problem carries where it is (entry index + path inside the entry, key or value)
 * and, when the fix is clear, the fix as data: what the editor needs to mark the exact field and
 * offer a quick fix, without reading sentences.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { fieldPath } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';

const ABS = path.resolve('/certs');
const good = { name: 'ok', listen: 15432, target: 'db:5432', cert: `${ABS}/c.crt`, key: `${ABS}/c.key` };

describe('config problem locations', () => {
  test('the issue\'s example: a non-loopback listen, a misspelt field, a misspelt protocol', () => {
    const { tunnels, errors } = parseTunnels([good, { name: 'pg', listen: '0.0.0.0:5432', target: 'db:5432', cetr: `${ABS}/c.crt`, key: `${ABS}/c.key`, protocol: 'postgress' }]);
    assert.deepEqual(tunnels.map((t) => t.name), ['ok']);
    const byField = new Map(errors.map((e) => [e.field, e]));
    assert.deepEqual(byField.get('listen')?.location, { index: 1, path: ['listen'], target: 'value', fix: { kind: 'replaceValue', value: '127.0.0.1:5432' } });
    assert.deepEqual(byField.get('cetr')?.location, { index: 1, path: ['cetr'], target: 'key', fix: { kind: 'renameKey', to: 'cert' } });
    assert.deepEqual(byField.get('protocol')?.location, { index: 1, path: ['protocol'], target: 'value', fix: { kind: 'replaceValue', value: 'postgres' } });
    // "cert" is reported missing too (it is spelt "cetr"): on the entry, not on a field that is not there.
    assert.equal(byField.get('cert')?.location.missing, true);
  });

  test('no rename is offered when the field it would become is already there', () => {
    const { errors } = parseTunnels([{ ...good, cetr: 'x' }]);
    const e = errors.find((x) => x.field === 'cetr')!;
    assert.equal(e.location.target, 'key');
    assert.equal(e.location.fix, undefined);
  });

  test('nested fields carry their full path', () => {
    const { errors } = parseTunnels([good, good, { ...good, name: 'v', verify: { spkiSha256: ['AAAA=', 'bad'], subjectAltName: ['DNS:x'] } }]);
    const pin = errors.find((e) => e.field === 'verify.spkiSha256[1]')!;
    assert.deepEqual(pin.location.path, ['verify', 'spkiSha256', 1]);
    assert.equal(pin.location.index, 2);
    const key = errors.find((e) => e.field === 'verify.subjectAltName')!;
    assert.deepEqual(key.location, { index: 2, path: ['verify', 'subjectAltName'], target: 'key', fix: { kind: 'renameKey', to: 'subjectAltNames' } });
  });

  test('an unnamed entry is named by its position, its problems by index', () => {
    const { errors } = parseTunnels([good, { listen: 1, target: 'db:1', cert: `${ABS}/c`, key: `${ABS}/k` }]);
    assert.equal(errors[0].tunnel, '#2');
    assert.deepEqual(errors[0].location, { index: 1, path: ['name'], target: 'value', missing: true });
  });

  test('a duplicate name points at the second entry\'s name', () => {
    const { errors } = parseTunnels([good, good]);
    assert.deepEqual(errors.map((e) => e.location), [{ index: 1, path: ['name'], target: 'value' }]);
  });

  test('user and database are accepted, substituted and kept', () => {
    const { tunnels, errors } = parseTunnels([{ ...good, user: '${env:PGUSER_T}', database: 'sales' }], { env: { PGUSER_T: 'app' } });
    assert.deepEqual(errors.map(String), []);
    assert.equal(tunnels[0].user, 'app');
    assert.equal(tunnels[0].database, 'sales');
    assert.deepEqual(parseTunnels([{ ...good, user: 5 }]).errors.map((e) => e.field), ['user']);
  });

  test('fieldPath splits dots and indexes', () => {
    assert.deepEqual(fieldPath(''), []);
    assert.deepEqual(fieldPath('alpn[0]'), ['alpn', 0]);
    assert.deepEqual(fieldPath('verify.subjectAltNames[12]'), ['verify', 'subjectAltNames', 12]);
  });
});
