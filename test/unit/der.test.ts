// The one DER reader: short and long lengths, and the truncated or unsupported forms it must refuse
// rather than read past the buffer (a certificate the tunnel parses on its failure path).
import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { derElement, SEQUENCE } from '../../src/core/certs/der';
import { withPki } from '../support/pkiFixture';

describe('derElement', () => {
  it('reads a short-form element', () => {
    assert.deepEqual(derElement(Uint8Array.from([0x04, 0x02, 0xaa, 0xbb]), 0), { tag: 0x04, begin: 0, content: 2, end: 4 });
  });

  it('reads a long-form length', () => {
    const der = new Uint8Array(4 + 300);
    der.set([0x04, 0x82, 0x01, 0x2c]);
    assert.deepEqual(derElement(der, 0), { tag: 0x04, begin: 0, content: 4, end: 304 });
  });

  it('refuses content past the end, a cut length, an indefinite length and an empty buffer', () => {
    assert.throws(() => derElement(Uint8Array.from([0x04, 0x05, 0x00]), 0), RangeError);
    assert.throws(() => derElement(Uint8Array.from([0x04, 0x82, 0x01]), 0), RangeError);
    assert.throws(() => derElement(Uint8Array.from([0x30, 0x80, 0x00, 0x00]), 0), RangeError);
    assert.throws(() => derElement(new Uint8Array(0), 0), RangeError);
  });

  const pki = withPki();
  it('walks a real certificate: one SEQUENCE spanning the whole DER', () => {
    const raw = new X509Certificate(readFileSync(pki().client.cert)).raw;
    assert.deepEqual(derElement(raw, 0), { tag: SEQUENCE, begin: 0, content: raw.length > 255 + 4 ? 4 : 3, end: raw.length });
  });
});
