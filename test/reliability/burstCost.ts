/**
 * What a connection burst costs the manager's listeners: opens N real connections through a tunnel
 * to an echo backend at once, echoes once on each, closes them all, while a listener on 'changed'
 * does what the status bar does. Prints connection snapshots built and the milliseconds spent in
 * that listener (the tunnel itself builds one per open and one per close, for its events). A measurement, not a test: `npx tsx test/reliability/burstCost.ts 200 800`.
 */
import * as net from 'node:net';
import { TunnelManager } from '../../src/core/manager';
import { BridgedConnection } from '../../src/core/tunnel/connection';
import { tunnelConfig } from '../support/tunnels';
import { closed, connectLocal, echoOnce } from '../support/tunnelKit';
import { makePki } from '../support/pkiFixture';
import { startMtlsServer } from '../support/mtlsServer';

async function burst(n: number): Promise<void> {
  const { pki, dispose } = await makePki();
  const backend = await startMtlsServer(pki, {});
  const manager = new TunnelManager({ watchCredentials: false, drainTimeoutMs: 100 });
  manager.apply([tunnelConfig(pki, backend.port, { name: 'burst' })]);
  await manager.start('burst');
  let snapshots = 0;
  let inListener = 0;
  let listening = false;
  const original = BridgedConnection.prototype.snapshot;
  BridgedConnection.prototype.snapshot = function (this: BridgedConnection) {
    snapshots++;
    if (listening) inListener++;
    return original.call(this);
  };
  let listenerMs = 0;
  let events = 0;
  manager.on('changed', () => {
    const t0 = performance.now();
    events++;
    listening = true;
    // The status bar's reads: how many are up or in error, and where each listens.
    for (const e of manager.entries()) void [e.state, statusBarAddress(e)];
    listening = false;
    listenerMs += performance.now() - t0;
  });
  const port = manager.tunnel('burst')!.address()!.port;
  const sockets: net.Socket[] = await Promise.all(Array.from({ length: n }, () => connectLocal(undefined, port)));
  await Promise.all(sockets.map((s, i) => echoOnce(s, `hello ${i}`, 30_000)));
  await Promise.all(sockets.map((s) => {
    s.end();
    return closed(s, 30_000);
  }));
  while ((manager.entry('burst') as { snapshot?: { openConnections: number } }).snapshot!.openConnections > 0) await new Promise((r) => setTimeout(r, 10));
  BridgedConnection.prototype.snapshot = original;
  console.log(`${n} connections: ${events} 'changed' events, ${snapshots} connection snapshots (${inListener} of them in the listener), ${listenerMs.toFixed(0)} ms in the listener`);
  await manager.dispose();
  await backend.close();
  await dispose();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function statusBarAddress(e: any): unknown {
  return 'address' in e ? e.address : e.snapshot?.listening ?? e.config.listen;
}

const counts = process.argv.slice(2).map(Number);
void (async () => {
  for (const n of counts.length ? counts : [200, 800]) await burst(n);
})();
