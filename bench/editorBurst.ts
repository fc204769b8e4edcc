/**
 * What a burst of connections costs the editor's main thread, measured in core (issue 14: "1000
 * connections opened and closed in a burst inside the extension host cost a bounded amount of
 * main-thread time"). The extension host runs the tunnel on its main thread and listens to the
 * manager's 'changed' event, once per connection opened and once per connection closed. This
 * runs the same engine in plain Node with listeners that read what the extension's do:
 *
 * - `extension`: the status bar's read on every event (state, address and counts of every entry:
 *   src/vscode/statusBar.ts), and, coalesced to one per 50 ms as src/vscode/tunnelTree.ts and
 *   runtimeProblems.ts do, the tree row's read (the entry's open connections, from its counts:
 *   src/vscode/tunnelTreeItems.ts) and the problems' read (the entry's last diagnosis).
 * - `extension, tree row from the snapshot`: the same, with the tree row counting open
 *   connections from the entry's snapshot, as it did until 2026-12-02 (a full snapshot per 50 ms).
 * - `snapshot-per-event`: the entry's full snapshot on every event, which visits every open
 *   connection: the O(n²) the issue describes, for comparison.
 *
 *   node --import tsx bench/editorBurst.ts [--connections 1000] [--reps 3]
 *
 * Per style: milliseconds spent in the listeners over the burst, connection snapshots built (the
 * tunnel builds one per open and one per close for its own events; the rest are the listeners'),
 * 'changed' events, and the burst's wall time and main-thread busy time (event loop utilization;
 * the load generator and the mTLS backend run in this process too, so that is context, not the
 * listeners' cost). The extension-host measurement (VS Code's own main thread) is
 * test/vscode/bench/editor-burst.test.ts (`npm run bench:editor`).
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { TunnelManager } from '../src/core/manager';
import { BridgedConnection } from '../src/core/tunnel/connection';
import { tunnelConfig } from '../test/support/tunnels';
import { closed, connectLocal, echoOnce } from '../test/support/tunnelKit';
import { makePki } from '../test/support/pkiFixture';
import { startMtlsServer } from '../test/support/mtlsServer';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const CONNECTIONS = arg('connections', 1000);
const REPS = arg('reps', 3);

type Style = 'extension' | 'extension, tree row from the snapshot' | 'snapshot-per-event';

let snapshots = 0;
const original = BridgedConnection.prototype.snapshot;
BridgedConnection.prototype.snapshot = function (this: BridgedConnection) {
  snapshots++;
  return original.call(this);
};

interface Result {
  listenerMs: number;
  snapshots: number;
  events: number;
  wallMs: number;
  busyMs: number;
}

/** Attaches the style's listeners; returns the time they spent and a stop function. */
function listen(manager: TunnelManager, style: Style): { ms: () => number; events: () => number; stop: () => void } {
  let ms = 0;
  let events = 0;
  const timed = (f: () => void) => {
    const t = performance.now();
    f();
    ms += performance.now() - t;
  };
  let pending: NodeJS.Timeout | undefined;
  const onChanged = (name: string | undefined) => {
    events++;
    if (style === 'snapshot-per-event') {
      timed(() => void manager.entry(name ?? 'burst')?.snapshot?.connections.length);
      return;
    }
    timed(() => {
      for (const e of manager.entries()) void [e.state, e.address, e.counts?.openConnections, e.lastDiagnosis];
    });
    pending ??= setTimeout(() => {
      pending = undefined;
      timed(() => {
        const entry = manager.entry('burst');
        void [style === 'extension' ? entry?.counts?.openConnections : entry?.snapshot?.openConnections, entry?.lastDiagnosis];
      });
    }, 50);
  };
  manager.on('changed', onChanged);
  return {
    ms: () => ms,
    events: () => events,
    stop: () => {
      manager.off('changed', onChanged);
      clearTimeout(pending);
    },
  };
}

async function burst(style: Style, manager: TunnelManager, port: number): Promise<Result> {
  const listener = listen(manager, style);
  const before = snapshots;
  const elu = performance.eventLoopUtilization();
  const t0 = performance.now();
  const sockets: net.Socket[] = await Promise.all(Array.from({ length: CONNECTIONS }, () => connectLocal(undefined, port)));
  await Promise.all(sockets.map((s, i) => echoOnce(s, `#${i}`, 60_000)));
  await Promise.all(sockets.map((s) => {
    s.end();
    return closed(s, 60_000);
  }));
  while ((manager.entry('burst')?.counts?.openConnections ?? 0) > 0) await new Promise((r) => setTimeout(r, 5));
  const wallMs = performance.now() - t0;
  // The last coalesced read.
  await new Promise((r) => setTimeout(r, 60));
  const busy = performance.eventLoopUtilization(elu);
  listener.stop();
  return { listenerMs: listener.ms(), snapshots: snapshots - before, events: listener.events(), wallMs, busyMs: busy.active };
}

async function main(): Promise<void> {
  const { pki, dispose } = await makePki();
  const backend = await startMtlsServer(pki, {});
  // allowOtherUsers: this measures the events, not the same-user lookup (bench/ownerLookup.ts).
  const manager = new TunnelManager({ watchCredentials: false, drainTimeoutMs: 100 });
  manager.apply([{ ...tunnelConfig(pki, backend.port, { name: 'burst' }), allowOtherUsers: true }]);
  await manager.start('burst');
  const port = manager.entry('burst')!.address.port!;
  const styles: Style[] = ['extension', 'extension, tree row from the snapshot', 'snapshot-per-event'];
  const results = new Map<Style, Result[]>(styles.map((s) => [s, []]));
  await burst('extension', manager, port); // warm-up, not recorded
  for (let rep = 0; rep < REPS; rep++) {
    for (let k = 0; k < styles.length; k++) {
      const style = styles[(rep + k) % styles.length];
      results.get(style)!.push(await burst(style, manager, port));
    }
  }
  await manager.dispose();
  await backend.close();
  await dispose();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`${CONNECTIONS} connections opened at once, one echo each, all closed; medians of ${REPS}`);
  console.log('');
  console.log('| listeners | time in listeners (ms) | connection snapshots built | \'changed\' events | burst wall time (ms) | main thread busy (ms) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [style, rs] of results) {
    const m = (f: (r: Result) => number) => median(rs.map(f));
    console.log(`| ${style} | ${m((r) => r.listenerMs).toFixed(1)} | ${m((r) => r.snapshots)} | ${m((r) => r.events)} | ${m((r) => r.wallMs).toFixed(0)} | ${m((r) => r.busyMs).toFixed(0)} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
