/**
 * The renewal soak (part of `npm run test:soak`; alone: `npm run test:soak:renewal`): a tunnel
 * whose client certificate lives for about a minute, minted each time by `openssl ca` behind its
 * identityCommand, carries continuous traffic to a real nginx that demands client certificates,
 * with the default renewal window (the last third of the lifetime), until it has renewed
 * `--renewals N` times (default 3; bounded by `--minutes`, default 4). Passes with zero failed
 * requests, a new serial for each renewal, and one keep-alive connection that lived through all
 * of them on the same socket. Writes test-results/renewal-soak.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { makePki } from '../support/pkiFixture';
import { nginxForCa, renewingTunnelConfig, trafficAcrossRenewals } from '../support/renewalTraffic';
import { makeShortLivedCa } from '../support/shortLivedCa';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

async function main(): Promise<number> {
  const renewals = option('renewals', 3);
  const minutes = option('minutes', 4);
  const lifetime = option('lifetime-seconds', 60);
  const { pki, dispose } = await makePki();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mtls-renewal-soak-'));
  const ca = makeShortLivedCa(dir);
  const nginx = await nginxForCa(pki, ca);
  const tunnel = new Tunnel(renewingTunnelConfig(pki, ca, nginx.port, lifetime, '33%'), { watchCredentials: false });
  const started = Date.now();
  try {
    await tunnel.start();
    console.log(`renewal soak: certificates valid ${lifetime} s (+5 s backdated), renewBefore 33%, until ${renewals} renewals or ${minutes} min`);
    const run = await trafficAcrossRenewals(tunnel, (r) => r.renewals >= renewals && r.serials.length > renewals, minutes * 60_000);
    const verdict = {
      seconds: Math.round((Date.now() - started) / 1000),
      renewals: run.renewals,
      commandRuns: ca.runs(),
      serials: run.serials,
      requests: run.requests,
      keptRequests: run.keptRequests,
      keptConnections: run.keptPorts.size,
      keptSerials: [...run.keptSerials],
      failures: run.failures.slice(0, 20),
      failureCount: run.failures.length,
    };
    await mkdir('test-results', { recursive: true });
    await writeFile(path.join('test-results', 'renewal-soak.json'), JSON.stringify(verdict, null, 2));
    console.log(JSON.stringify(verdict, null, 2));
    const ok = run.failures.length === 0 && run.renewals >= renewals && run.serials.length > renewals && run.keptPorts.size === 1 && run.keptSerials.size === 1;
    console.log(ok ? 'renewal soak: PASS' : 'renewal soak: FAIL');
    return ok ? 0 : 1;
  } finally {
    await tunnel.stop();
    await nginx.stop();
    rmSync(dir, { recursive: true, force: true });
    await dispose();
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(1);
});
