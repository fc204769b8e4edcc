import { test } from 'node:test';
import * as net from 'node:net';
import { withPki } from '../support/pkiFixture';
import { startMtlsServer } from '../support/mtlsServer';
import { tunnelConfig } from '../support/tunnels';
import { startTunnel, tunnelPort } from '../support/tunnelKit';
const pki = withPki();
function once(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('error', reject);
    s.once('data', () => { const ms = performance.now() - t0; s.destroy(); resolve(ms); });
    s.write('Ex');
  });
}
for (const warm of [0, 2, 0, 2]) {
  test(`warm ${warm}`, { timeout: 60000 }, async (t) => {
    let full = 0, resumed = 0;
    const server = await startMtlsServer(pki(), { recordClients: false, handler: (s) => { if (s.isSessionReused()) resumed++; else full++; s.pipe(s); } }, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { warmConnections: warm }));
    const port = tunnelPort(tunnel);
    await new Promise((r) => setTimeout(r, 300));
    const ms: number[] = [];
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < 300; i++) ms.push(await once(port));
    const el = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    ms.sort((a, b) => a - b);
    console.log(`warm ${warm}: p50 ${ms[150].toFixed(2)} p99 ${ms[297].toFixed(2)} conn/s ${(300000 / el).toFixed(0)} cpu/conn ${((cpu.user + cpu.system) / 1000 / 300).toFixed(2)} ms full ${full} resumed ${resumed} counts ${JSON.stringify(tunnel.counts().warm)}`);
  });
}
