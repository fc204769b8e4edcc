/**
 * The tunnel engine of bench/busyHost.ts, the same code in both placements: `startEngine` is
 * called on the main thread (as the extension does today), and this file, bundled by esbuild as
 * the extension would be, is the entry of a `worker_threads` Worker for the other placement. In
 * the worker it posts `{ kind: 'listening', port, tid, startMs }` once the tunnel listens (tid:
 * the worker's thread id in /proc, for its schedstat), forwards every `'changed'` event with the
 * entry's counts (what the status bar reads; an extension with its engine in a worker would have
 * to), and answers `'stop'` by disposing the manager.
 */
import { readlinkSync } from 'node:fs';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { TunnelManager } from '../src/core/manager';
import { parseTunnels } from '../src/core/config/parse';

export interface EngineArgs {
  /** Paths only: these cross to the worker by structured clone. */
  cert: string;
  key: string;
  ca: string;
  backendPort: number;
  /** The same-user check on (the default for users); off isolates the placement from the lookup. */
  ownerCheck: boolean;
}

export interface Engine {
  manager: TunnelManager;
  port: number;
}

export async function startEngine(args: EngineArgs): Promise<Engine> {
  // Credentials are read once at start; no watcher, so the idle engine does no work of its own.
  const manager = new TunnelManager({ watchCredentials: false, drainTimeoutMs: 100 });
  const { tunnels, errors } = parseTunnels([{
    name: 'busy', listen: 0, target: `127.0.0.1:${args.backendPort}`, serverName: 'localhost',
    cert: args.cert, key: args.key, ca: args.ca, allowOtherUsers: !args.ownerCheck,
  }]);
  if (errors.length > 0) throw new Error(errors.map(String).join('\n'));
  manager.apply(tunnels);
  await manager.start('busy');
  const port = manager.entry('busy')?.address.port;
  if (!port) throw new Error('busy: the tunnel did not report a port');
  return { manager, port };
}

/** This thread's id as /proc lists it under /proc/self/task (Linux). */
export function threadId(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

async function runInWorker(args: EngineArgs): Promise<void> {
  const t0 = performance.now();
  const { manager, port } = await startEngine(args);
  manager.on('changed', (name) => {
    const counts = name ? manager.entry(name)?.counts : undefined;
    parentPort!.postMessage({ kind: 'changed', name, open: counts?.openConnections, total: counts?.totalConnections });
  });
  parentPort!.on('message', (m: { kind: string }) => {
    if (m.kind === 'stop') void manager.dispose().then(() => parentPort!.close());
  });
  parentPort!.postMessage({ kind: 'listening', port, tid: threadId(), startMs: performance.now() - t0 });
}

if (!isMainThread && (workerData as { busyHostEngine?: EngineArgs } | undefined)?.busyHostEngine) {
  runInWorker((workerData as { busyHostEngine: EngineArgs }).busyHostEngine).catch((e: Error) => {
    parentPort!.postMessage({ kind: 'error', message: e.stack ?? e.message });
  });
}
