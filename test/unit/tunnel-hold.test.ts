/**
 * A tunnel whose settings are held (TunnelConfig.hold: the editor's workspace settings waiting for
 * the user's consent) does not start, with a NEEDS_CONSENT diagnosis naming the field; a running
 * tunnel handed held settings keeps the settings it had, so nothing widens who may connect.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { Tunnel, TunnelStartError } from '../../src/core/tunnel/tunnel';
import { tunnelConfig } from '../support/tunnels';
import { connectError, connectLocal, echoOnce, startTunnel, tunnelPort } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';
import { unusedPort } from '../support/ports';
import { startMtlsServer } from '../support/mtlsServer';

const hold = { field: 'allowOtherUsers', summary: 'Tunnel "shared" waits for your consent.', fix: 'Allow it for this workspace.' };

describe('held settings', () => {
  const fixture = withPki();
  let pki: ThrowawayPki;
  before(async () => {
    pki = await fixture.ready();
  });

  test('a held tunnel does not start: NEEDS_CONSENT on the held field, nothing listens', async () => {
    const port = await unusedPort();
    const tunnel = new Tunnel({ ...tunnelConfig(pki, 1, { name: 'shared', listen: `127.0.0.1:${port}`, allowOtherUsers: true }), hold });
    const failure = await tunnel.start().then(() => undefined, (e: unknown) => e);
    assert.ok(failure instanceof TunnelStartError);
    assert.equal(failure.field, 'allowOtherUsers');
    assert.equal(failure.diagnosis.code, 'NEEDS_CONSENT');
    assert.equal(failure.diagnosis.summary, hold.summary);
    assert.equal(tunnel.state, 'error');
    assert.equal(tunnel.diagnosis?.code, 'NEEDS_CONSENT');
    assert.equal((await connectError(port))?.code, 'ECONNREFUSED');
  });

  test('a running tunnel handed held settings keeps its own: same protection, a warning that says so', { timeout: 15_000 }, async (t) => {
    const backend = await startMtlsServer(pki, {}, t);
    const config = tunnelConfig(pki, backend.port, { name: 'shared' });
    const tunnel = await startTunnel(t, config);
    const protection = tunnel.counts().protection;
    const applied = await tunnel.reconfigure({ ...config, allowOtherUsers: true, hold });
    assert.equal(applied, false);
    assert.equal(tunnel.state, 'running');
    assert.equal(tunnel.config.allowOtherUsers, false, 'new connections are still made with the settings it had');
    assert.deepEqual(tunnel.counts().protection, protection);
    assert.equal(tunnel.diagnosis?.code, 'NEEDS_CONSENT');
    assert.equal(tunnel.diagnosis?.severity, 'warning');
    assert.match(tunnel.diagnosis?.fix ?? '', /keeps running with its previous settings/);
    const client = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(client, 'still mine'), 'still mine');

    // Once the hold is lifted the same settings apply.
    assert.equal(await tunnel.reconfigure({ ...config, allowOtherUsers: true }), true);
    assert.equal(tunnel.config.allowOtherUsers, true);
    assert.equal(tunnel.counts().protection?.kind, 'none');
  });
});
