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

test('an open or a close builds its own connection\'s snapshot only, and its event carries just that one', { timeout: 30_000 }, async (t) => {
  const backend = await startMtlsServer(pki, {}, t);
  const manager = new TunnelManager({ watchCredentials: false, drainTimeoutMs: 100 });
  t.after(() => manager.dispose());
  manager.apply([tunnelConfig(pki, backend.port, { name: 'events' })]);
  await manager.start('events');
  const tunnel = manager.tunnel('events')!;

  let built = 0;
  const original = BridgedConnection.prototype.snapshot;
  BridgedConnection.prototype.snapshot = function (this: BridgedConnection) {
    built++;
    return original.call(this);
  };
  t.after(() => {
    BridgedConnection.prototype.snapshot = original;
  });
  const opened: number[] = [];
  const closedIds: number[] = [];
  tunnel.on('connectionOpened', (c) => opened.push(c.id));
  tunnel.on('connectionClosed', (c) => closedIds.push(c.id));
  // What the status bar reads on every event: nothing that visits connections.
  manager.on('changed', () => {
    for (const e of manager.entries()) void [e.state, e.address, e.counts?.openConnections, e.lastDiagnosis];
  });

  const port = manager.entry('events')!.address.port;
  const sockets = await Promise.all(Array.from({ length: 60 }, () => connectLocal(t, port)));
  await Promise.all(sockets.map((s, i) => echoOnce(s, `#${i}`, 10_000)));
  await until(() => opened.length === 60, 10_000, 'every connection to be established');
  await Promise.all(sockets.map((s) => {
    s.end();
    return closed(s, 10_000);
  }));
  await until(() => closedIds.length === 60, 10_000, 'every connection to close');
  assert.deepEqual([...new Set(opened)].sort(), [...opened].sort(), 'each open event is about one connection, each once');
  assert.deepEqual([...closedIds].sort(), [...opened].sort(), 'each close event is about a connection that opened');
  // One per open and one per close: a full snapshot per event would be 60 × (open ones) more.
  assert.equal(built, 120, `connection snapshots built over 60 opens and 60 closes: ${built}`);
});
