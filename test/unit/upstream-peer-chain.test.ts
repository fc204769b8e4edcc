/**
 * The server's chain is read on a full handshake only when something needs it (upstream.ts,
 * `watchPeer`): converting it costs ~0.4 ms of OpenSSL 3 per handshake, a good part of a new
 * connection's CPU. These tests hold both halves of that: a handshake that verifies does not
 * convert the chain (Node's own name check gets the leaf), and every failure that is explained
 * from the chain (an untrusted issuer, a wrong name, a pin) still has it, as does a good
 * connection when someone asks for it later. Real TLS servers with the test PKI; the count is of
 * the real `TLSSocket.prototype.getPeerCertificate` calls asking for the chain.
 */
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import { describe, test, TestContext } from 'node:test';
import { loadCredentials } from '../../src/core/tls/credentials';
import { dialUpstream, UpstreamError } from '../../src/core/tunnel/upstream';
import { startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();

/** Counts the chain conversions (`getPeerCertificate(true)` reaching Node) while `run` runs. */
async function chainReads<T>(t: TestContext, run: () => Promise<T>): Promise<{ result: T; reads: number }> {
  const original = tls.TLSSocket.prototype.getPeerCertificate;
  let reads = 0;
  tls.TLSSocket.prototype.getPeerCertificate = function (this: tls.TLSSocket, detailed?: boolean) {
    if (detailed) reads += 1;
    return original.call(this, detailed as true);
  } as typeof original;
  t.after(() => {
    tls.TLSSocket.prototype.getPeerCertificate = original;
  });
  try {
    return { result: await run(), reads };
  } finally {
    tls.TLSSocket.prototype.getPeerCertificate = original;
  }
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const e = await promise.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof UpstreamError, `expected an UpstreamError, got ${String(e)}`);
  return e;
}

describe('the server chain on a full handshake', () => {
  test('a handshake that verifies does not convert the chain, and the chain is there when asked', async (t) => {
    const server = await startMtlsServer(pki(), {}, t);
    const config = tunnelConfig(pki(), server.port);
    const credentials = await loadCredentials(config);
    const { result: upstream, reads } = await chainReads(t, () => dialUpstream(config, credentials));
    t.after(() => upstream.socket.destroy());
    assert.equal(upstream.handshake.resumed, false);
    assert.equal(reads, 0, 'the chain was converted for a handshake that needed only the leaf');
    const chain = upstream.peerCertificate;
    assert.equal(String(chain?.subject.CN), 'localhost');
    assert.match(String(chain?.issuerCertificate?.subject.CN), /Intermediate/);
  });

  test('an untrusted server is explained from the chain it sent', async (t) => {
    const server = await startMtlsServer(pki(), { identity: pki().rogueServer }, t);
    const config = tunnelConfig(pki(), server.port);
    const e = await failure(dialUpstream(config, await loadCredentials(config)));
    assert.equal(e.phase, 'handshake');
    assert.match(String(e.peerCertificate?.issuer.CN), /Rogue/);
  });

  test('a name that does not match keeps the chain for its explanation', async (t) => {
    const server = await startMtlsServer(pki(), { identity: pki().serverWrongName }, t);
    const config = tunnelConfig(pki(), server.port);
    const e = await failure(dialUpstream(config, await loadCredentials(config)));
    assert.match(e.peerCertificate?.subjectaltname ?? '', /other\.example/);
    assert.match(String(e.peerCertificate?.issuerCertificate?.subject.CN), /Intermediate/);
  });

  test('pinned keys are checked against the whole chain', async (t) => {
    const server = await startMtlsServer(pki(), {}, t);
    const wrong = tunnelConfig(pki(), server.port, { verify: { spkiSha256: ['A'.repeat(43) + '='] } });
    const e = await failure(dialUpstream(wrong, await loadCredentials(wrong)));
    assert.equal(e.code, 'ERR_MTLS_PIN_MISMATCH');
    assert.ok(e.peerCertificate?.issuerCertificate, 'the pin mismatch has the chain to name');
  });
});
