/**
 * A tunnel whose certificate lives for seconds carries continuous traffic to a real nginx that
 * demands client certificates, across renewals by its identityCommand (`openssl ca` behind a
 * script): no request fails, fresh connections show new serials, and a keep-alive connection
 * opened before the first renewal keeps working on the same socket after the last. The long
 * version (a minute-long certificate, several minutes) is in `npm run test:soak`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withPki } from '../support/pkiFixture';
import { nginxForCa, renewingTunnelConfig, trafficAcrossRenewals } from '../support/renewalTraffic';
import { requireBinary, RunningNginx } from '../support/servers';
import { makeShortLivedCa, ShortLivedCa } from '../support/shortLivedCa';
import { startTunnel } from '../support/tunnelKit';

const pki = withPki();

describe('renewal under traffic, against nginx', { skip: requireBinary('nginx', 'openssl') }, () => {
  let dir: string;
  let ca: ShortLivedCa;
  let nginx: RunningNginx | undefined;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mtls-renewal-'));
    ca = makeShortLivedCa(dir);
    nginx = await nginxForCa(await pki.ready(), ca);
  }, { timeout: 60_000 });
  after(async () => {
    await nginx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two renewals, no failed request, new serials, the open connection survives', { timeout: 60_000 }, async (t) => {
    // Valid 8 s (backdated 5): the window opens 6 s before the end, so a renewal every ~2 s.
    const tunnel = await startTunnel(t, renewingTunnelConfig(pki(), ca, nginx!.port, 8, '6s'));
    const run = await trafficAcrossRenewals(tunnel, (r) => r.renewals >= 2 && r.serials.length >= 3, 40_000);
    assert.deepEqual(run.failures, []);
    assert.ok(run.renewals >= 2, `renewals: ${run.renewals}`);
    assert.ok(run.serials.length >= 3, `serials: ${run.serials.join(', ')}`);
    assert.equal(run.keptPorts.size, 1, 'the keep-alive requests all went over one connection');
    assert.equal(run.keptSerials.size, 1, 'which kept the certificate it started with');
    assert.equal(run.serials[0], [...run.keptSerials][0]);
    assert.ok(run.keptRequests > 5);
  });
});
