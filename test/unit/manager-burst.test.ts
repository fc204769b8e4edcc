/**
 * A connection burst costs the manager's cheap readers nothing per connection: every open and
 * close emits 'changed', and a listener that reads entries() for state, address and counts (what
 * the status bar and the badge read) builds no connection snapshot; the full snapshot, with each
 * open connection, is built only when read, once per entry. Counted, not timed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TunnelManager } from '../../src/core/manager';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { BridgedConnection } from '../../src/core/tunnel/connection';
import { tunnelConfig } from '../support/tunnels';
import { closed, connectLocal, echoOnce, until } from '../support/tunnelKit';
import { makePki } from '../support/pkiFixture';
import { startMtlsServer } from '../support/mtlsServer';

let pki: ThrowawayPki;
let dispose: () => Promise<void>;
before(async () => ({ pki, dispose } = await makePki()));
after(() => dispose());

test('reading entries on every event of a 100-connection burst builds no connection snapshot', { timeout: 30_000 }, async (t) => {
  const backend = await startMtlsServer(pki, {}, t);
  const manager = new TunnelManager({ watchCredentials: false, drainTimeoutMs: 100 });
  t.after(() => manager.dispose());
  manager.apply([tunnelConfig(pki, backend.port, { name: 'burst' })]);
  await manager.start('burst');

  let reading = false;
  let builtWhileReading = 0;
  const original = BridgedConnection.prototype.snapshot;
  BridgedConnection.prototype.snapshot = function (this: BridgedConnection) {
    if (reading) builtWhileReading++;
    return original.call(this);
  };
  t.after(() => {
    BridgedConnection.prototype.snapshot = original;
  });
  let events = 0;
  let peakOpen = 0;
  manager.on('changed', () => {
    reading = true;
    for (const e of manager.entries()) {
      events++;
      peakOpen = Math.max(peakOpen, e.counts?.openConnections ?? 0);
      void [e.state, e.address, e.lastDiagnosis, e.counts?.totalConnections];
    }
    reading = false;
  });

  const port = manager.entry('burst')!.address.port;
  const sockets = await Promise.all(Array.from({ length: 100 }, () => connectLocal(t, port)));
  await Promise.all(sockets.map((s, i) => echoOnce(s, `#${i}`, 10_000)));
  const entry = manager.entry('burst')!;
  reading = true;
  assert.equal(entry.snapshot?.connections.length, 100, 'the full snapshot lists every open connection');
  assert.equal(entry.snapshot?.connections.length, 100);
  reading = false;
  assert.equal(builtWhileReading, 100, 'one snapshot per connection, built once per entry when read');
  builtWhileReading = 0;

  await Promise.all(sockets.map((s) => {
    s.end();
    return closed(s, 10_000);
  }));
  await until(() => manager.entry('burst')!.counts?.openConnections === 0, 10_000, 'every connection to close');
  assert.ok(events >= 200, `a 'changed' per open and per close (${events})`);
  assert.equal(peakOpen, 100);
  assert.equal(manager.entry('burst')!.counts?.totalConnections, 100);
  assert.equal(builtWhileReading, 0, 'state, address and counts come without visiting connections');
});
