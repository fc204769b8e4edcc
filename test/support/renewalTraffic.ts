/**
 * Traffic across certificate renewals, for the renewal tests and the soak: a tunnel whose
 * identityCommand mints short-lived certificates (shortLivedCa.ts) in front of a real nginx that
 * demands client certificates and answers `/serial` with the one it was shown. One loop makes a
 * fresh connection per request (each one a new handshake with the identity of the moment), one
 * keep-alive connection asks again and again on the same socket (it must survive every renewal
 * with the certificate it started with). Every failed request is counted, never retried.
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { TunnelConfig } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { RunningNginx, startNginx } from './servers';
import { ShortLivedCa } from './shortLivedCa';

export interface RenewalRun {
  /** Serials fresh connections saw, in order of first sight. */
  serials: string[];
  requests: number;
  failures: string[];
  /** Renewals the tunnel applied while the traffic ran. */
  renewals: number;
  /** Requests on the one keep-alive connection, and the serials it saw (one, if it survived). */
  keptRequests: number;
  keptSerials: Set<string>;
  keptPorts: Set<number>;
}

export function renewingTunnelConfig(pki: ThrowawayPki, ca: ShortLivedCa, nginxPort: number, lifetimeSeconds: number, renewBefore: string): TunnelConfig {
  const { tunnels, errors } = parseTunnels([{
    name: 'renewing', listen: 0, target: `127.0.0.1:${nginxPort}`, serverName: 'localhost', ca: pki.ca, connectTimeoutMs: 5000,
    cert: path.join(ca.dir, 'never-written', 'client.crt'), key: path.join(ca.dir, 'never-written', 'client.key'),
    identityCommand: ca.command({ lifetimeSeconds, output: 'stdout' }), renewBefore,
  }]);
  if (errors.length) throw new Error(errors.map(String).join('\n'));
  return tunnels[0];
}

export function nginxForCa(pki: ThrowawayPki, ca: ShortLivedCa): Promise<RunningNginx> {
  return startNginx({ pki: { ca: ca.caCert, server: pki.server }, largeFileBytes: 1024 });
}

function get(port: number, agent: http.Agent | false): Promise<{ serial: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/serial', headers: { host: 'localhost' }, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve({ serial: body.trim(), localPort: req.socket?.localPort ?? 0 }) : reject(new Error(`HTTP ${res.statusCode}: ${body.trim()}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
  });
}

/** Runs both loops until `done(run)` holds (checked after every request) or `deadlineMs` passes. */
export async function trafficAcrossRenewals(tunnel: Tunnel, done: (run: RenewalRun) => boolean, deadlineMs: number): Promise<RenewalRun> {
  const port = tunnel.address()!.port;
  const run: RenewalRun = { serials: [], requests: 0, failures: [], renewals: 0, keptRequests: 0, keptSerials: new Set(), keptPorts: new Set() };
  const onRenewal = () => (run.renewals += 1);
  tunnel.on('credentialsReloaded', onRenewal);
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const end = Date.now() + deadlineMs;
  let stop = false;
  const fresh = (async () => {
    while (!stop && Date.now() < end) {
      run.requests += 1;
      try {
        const { serial } = await get(port, false);
        if (!run.serials.includes(serial)) run.serials.push(serial);
      } catch (e) {
        run.failures.push(`fresh #${run.requests}: ${(e as Error).message}`);
      }
      if (done(run)) stop = true;
    }
  })();
  const kept = (async () => {
    while (!stop && Date.now() < end) {
      run.keptRequests += 1;
      try {
        const { serial, localPort } = await get(port, keepAlive);
        run.keptSerials.add(serial);
        run.keptPorts.add(localPort);
      } catch (e) {
        run.failures.push(`kept #${run.keptRequests}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.all([fresh, kept]);
  keepAlive.destroy();
  tunnel.off('credentialsReloaded', onRenewal);
  return run;
}
