/**
 * The rules that say what an upstream end or error after the handshake means: a silent refusal
 * of our certificate, a refusal on the first read, a broken connection, or an exchange that
 * simply finished. Pure functions, so each rule is checked on its own.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  classifyUpstreamError, isSilentRefusal, REFUSAL_WINDOW_BYTES, SILENT_REJECTION_WINDOW_MS, UpstreamEndFacts, UpstreamErrorFacts,
} from '../../src/core/tunnel/upstreamClose';

describe('an upstream end right after the handshake', () => {
  const quiet: UpstreamEndFacts = { receivedFromUpstream: false, diagnosed: false, msSinceEstablished: 5, answeredByClose: false, weEnded: false };

  test('without a word, at once, is a silent refusal', () => {
    assert.equal(isSilentRefusal(quiet), true);
  });
  test('after the server sent data is a normal end', () => {
    assert.equal(isSilentRefusal({ ...quiet, receivedFromUpstream: true }), false);
  });
  test('after the silent-rejection window is a normal end', () => {
    assert.equal(isSilentRefusal({ ...quiet, msSinceEstablished: SILENT_REJECTION_WINDOW_MS + 1 }), false);
    assert.equal(isSilentRefusal({ ...quiet, msSinceEstablished: SILENT_REJECTION_WINDOW_MS }), true);
  });
  test('answering a CancelRequest by closing is not a refusal', () => {
    assert.equal(isSilentRefusal({ ...quiet, answeredByClose: true }), false);
  });
  test('answering our own end is not a refusal', () => {
    assert.equal(isSilentRefusal({ ...quiet, weEnded: true }), false);
  });
  test('is not diagnosed twice', () => {
    assert.equal(isSilentRefusal({ ...quiet, diagnosed: true }), false);
  });
});

describe('an upstream error after the handshake', () => {
  const first: UpstreamErrorFacts = { code: 'ECONNRESET', receivedFromUpstream: false, clientEnded: false, clientBytesSent: 100 };

  test('before the server said anything is a refusal on the first read', () => {
    assert.equal(classifyUpstreamError(first), 'refused');
    assert.equal(classifyUpstreamError({ ...first, code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' }), 'refused');
  });
  test('once the server has sent data is a broken connection', () => {
    assert.equal(classifyUpstreamError({ ...first, receivedFromUpstream: true }), 'broken');
  });
  test('once the client sent more than the refusal window is a broken connection, even if the server never answered', () => {
    assert.equal(classifyUpstreamError({ ...first, clientBytesSent: REFUSAL_WINDOW_BYTES }), 'refused');
    assert.equal(classifyUpstreamError({ ...first, clientBytesSent: REFUSAL_WINDOW_BYTES + 1 }), 'broken');
  });
  test('a reset after the client finished and the server answered is a finished exchange', () => {
    assert.equal(classifyUpstreamError({ ...first, clientEnded: true, receivedFromUpstream: true }), 'finished');
  });
  test('a reset after the client finished but before any answer is still a refusal', () => {
    assert.equal(classifyUpstreamError({ ...first, clientEnded: true }), 'refused');
  });
  test('another error after the client finished is a broken connection', () => {
    assert.equal(classifyUpstreamError({ ...first, code: 'EPIPE', clientEnded: true, receivedFromUpstream: true }), 'broken');
  });
});
