/**
 * Does a busy extension host stall the tunnel, and does a worker thread help? (issue 14's lever
 * "the engine in a worker thread"). The project's real engine (TunnelManager, one tunnel) runs
 * in two placements in this process: (a) on the main thread, as the extension runs it today, and
 * (b) in a `worker_threads` Worker (bench/busyHostEngine.ts, bundled by esbuild as the extension
 * is). Meanwhile the main thread plays another extension: synchronous busy blocks of
 *
 *   - none (idle control);
 *   - 20 ms every 50 ms: steady chatty work, e.g. a language client handling a stream of
 *     diagnostics or a linter re-running per keystroke: 40 % of the thread, short blocks;
 *   - 100 ms every 500 ms: periodic long tasks, e.g. a big JSON.parse, a git status of a large
 *     repository parsed in JS: 20 % of the thread, long blocks.
 *   Neither comes near VS Code's "extension host unresponsive" warning (seconds), so a user would
 *   see nothing in the editor, only in the tunnel.
 *
 * The mTLS echo backend (bench/backend.ts) and the load generator run in child processes, never
 * on the busy thread, each in a session of its own (so Linux's autogroup scheduling does not count
 * them with the busy process, as it would not count psql in a terminal or a remote server). Per
 * placement × profile: ping-pong through the tunnel (32 bytes, one persistent connection) and
 * connect→first echo byte of new connections at c=1 (clean close), each round after a random
 * 1-4 ms pause so that rounds do not follow the stalls' rhythm; and a steady stream (32 bytes due
 * every 2 ms, open loop, timed from when each was due), which weighs a stall by its length (one
 * round trip at a time, a 100 ms block holds up one round). Also, during the stream, how long the
 * engine's thread was runnable but waiting for a CPU (schedstat). Variants are
 * interleaved, repeated `--reps` times, medians printed, the table saved to
 * bench/results/published/2026-12-02-busy-host.txt. Also: the worker's extra RSS at idle, the time
 * to start a worker with the engine, CPU per round trip (from /proc/self/task/TID/schedstat).
 * `--owner-check` turns the same-user check on (off by default: its /proc lookups are measured in
 * bench/ownerLookup.ts and would add their own p99 to the connection rows).
 *
 *   node --import tsx bench/busyHost.ts [--reps 3] [--rounds 800] [--stream 1000] [--conns 200] [--owner-check] [--same-session] [--out FILE]
 */
import { fork, ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as esbuild from 'esbuild';
import { createThrowawayPki } from '../src/core/pki/testPki';
import { EngineArgs, startEngine, threadId } from './busyHostEngine';
import { echoOnce, median, percentile, pingPong, steadyStream, withTimeout } from './load';
import { rssBytes, sleep, spawnPiped, stopAll } from './procs';

const ROOT = path.resolve(__dirname, '..');
const OUT = process.argv.includes('--out') ? path.resolve(process.argv[process.argv.indexOf('--out') + 1]) : path.join(ROOT, 'bench', 'results', 'published', '2026-12-02-busy-host.txt');
const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const REPS = arg('reps', 3);
const ROUNDS = arg('rounds', 800);
const CONNS = arg('conns', 200);
const STREAM = arg('stream', 1000);
const STREAM_EVERY_MS = 2;
/** `--same-session`: the load generator and backend share the busy process's autogroup (to show why they do not by default). */
const DETACHED = !process.argv.includes('--same-session');
const gap = () => 1 + Math.random() * 3; // setTimeout has a 1 ms floor anyway

interface Job { id: number; kind: 'ping' | 'conn' | 'stream'; port: number; count: number }
/** `waitShare`: the share of the job's time the load generator's thread spent waiting for a CPU. */
interface Stats { p50Ms: number; p99Ms: number; maxMs: number; waitShare?: number }

// ---------------------------------------------------------------------------------------------
// The load generator (a child process: `--loadgen`)

const stats = (ms: number[]): Stats => ({ p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: percentile(ms, 100) });

async function conns(port: number, count: number): Promise<Stats> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    await sleep(gap());
    ms.push((await withTimeout(echoOnce({ port }, false, 'clean'), 10_000, 'connect+echo')).ms);
  }
  return stats(ms);
}

function loadgen(): void {
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message) => {
    const job = message as Job;
    const w0 = taskWaitNs('self');
    const t0 = performance.now();
    const run = job.kind === 'ping' ? pingPong({ port: job.port }, job.count, 32, 50, gap)
      : job.kind === 'stream' ? steadyStream({ port: job.port }, job.count, 32, STREAM_EVERY_MS) : conns(job.port, job.count);
    const waitShare = () => (taskWaitNs('self') - w0) / 1e6 / (performance.now() - t0);
    run.then((result) => process.send!({ id: job.id, result: { ...result, waitShare: waitShare() } }), (e: Error) => process.send!({ id: job.id, error: e.message }));
  });
}

// ---------------------------------------------------------------------------------------------
// The main thread: engines, the other extension's work, readings

interface Profile { name: string; busyMs: number; everyMs: number }
const PROFILES: Profile[] = [
  { name: 'idle', busyMs: 0, everyMs: 0 },
  { name: '20 ms every 50 ms', busyMs: 20, everyMs: 50 },
  { name: '100 ms every 500 ms', busyMs: 100, everyMs: 500 },
];
type Placement = 'main thread' | 'worker';
interface Cpu { engine: number; process: number }
interface Sample { ping: Stats; stream: Stats; waitShare: number; conn: Stats; busyShare: number; cpuUsPerRound: Cpu; cpuUsPerConn: Cpu }

/** The other extension: a synchronous spin of `busyMs` every `everyMs`; stop() returns the ms spun. */
function busy(p: Profile): () => number {
  let spun = 0;
  if (p.busyMs === 0) return () => 0;
  const timer = setInterval(() => {
    const t0 = performance.now();
    while (performance.now() - t0 < p.busyMs) { /* another extension's work */ }
    spun += performance.now() - t0;
  }, p.everyMs);
  return () => {
    clearInterval(timer);
    return spun;
  };
}

/** A thread's schedstat: ns on a CPU, ns runnable but waiting on a run queue, timeslices. */
const schedstat = (tid: number | 'self') => readFileSync(tid === 'self' ? '/proc/thread-self/schedstat' : `/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
/** Nanoseconds on CPU of one thread of this process. */
const taskCpuNs = (tid: number) => schedstat(tid)[0];
/** Nanoseconds one thread has spent runnable, waiting on a run queue (second field). */
const taskWaitNs = (tid: number | 'self') => schedstat(tid)[1];
const processCpuNs = () => readdirSync('/proc/self/task').reduce((sum, t) => {
  try {
    return sum + taskCpuNs(Number(t));
  } catch {
    return sum; // a thread that ended meanwhile
  }
}, 0);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function startLoadgen(): (job: Omit<Job, 'id'>) => Promise<Stats> {
  const child: ChildProcess = fork(__filename, ['--loadgen'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: DETACHED });
  let next = 0;
  const waiting = new Map<number, { resolve: (s: Stats) => void; reject: (e: Error) => void }>();
  child.on('message', (m: { id: number; result?: Stats; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error) w?.reject(new Error(`load generator: ${m.error}`));
    else w?.resolve(m.result!);
  });
  child.unref();
  return (job) => new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    child.send({ ...job, id });
  });
}

async function startWorker(file: string, args: EngineArgs, onChanged: (m: unknown) => void): Promise<{ worker: Worker; port: number; tid: number; wallMs: number }> {
  const t0 = performance.now();
  // execArgv []: no tsx in the worker; it loads the bundle, as the extension host would.
  const worker = new Worker(file, { workerData: { busyHostEngine: args }, execArgv: [] });
  return withTimeout(new Promise((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (m: { kind: string; port: number; tid: number; message?: string }) => {
      if (m.kind === 'listening') resolve({ worker, port: m.port, tid: m.tid, wallMs: performance.now() - t0 });
      else if (m.kind === 'error') reject(new Error(`worker: ${m.message}`));
      else onChanged(m);
    });
  }), 30_000, 'worker start');
}

function stopWorker(worker: Worker): Promise<void> {
  return withTimeout(new Promise<void>((resolve) => {
    worker.once('exit', () => resolve());
    worker.postMessage({ kind: 'stop' });
  }), 10_000, 'worker stop').catch(() => worker.terminate().then(() => undefined));
}

async function startBackend(dir: string, file: string, args: EngineArgs & { serverCert: string; serverKey: string }): Promise<number> {
  const { child } = spawnPiped(process.execPath, [file, JSON.stringify({ cert: args.serverCert, key: args.serverKey, ca: args.ca })], path.join(dir, 'backend.log'), { detached: DETACHED });
  const line = await withTimeout(new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(text.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`backend exited with ${code}`)));
  }), 15_000, 'backend start');
  return (JSON.parse(line) as { tls: number }).tls;
}

async function main(): Promise<void> {
  const loadStart = loadavg();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'busy-host-'));
  try {
    await esbuild.build({
      entryPoints: { engine: path.join(ROOT, 'bench', 'busyHostEngine.ts'), backend: path.join(ROOT, 'bench', 'backend.ts') },
      outdir: dir, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['vscode'],
      sourcemap: false, logLevel: 'warning', mainFields: ['module', 'main'],
    });
    const pki = await createThrowawayPki(path.join(dir, 'pki'));
    const base = { cert: pki.client.cert, key: pki.client.key, ca: pki.ca, ownerCheck: process.argv.includes('--owner-check') };
    const backendPort = await startBackend(dir, path.join(dir, 'backend.js'), { ...base, backendPort: 0, serverCert: pki.server.cert, serverKey: pki.server.key });
    const args: EngineArgs = { ...base, backendPort };
    const job = startLoadgen();

    // The extension's listeners read the counts on every 'changed' (src/vscode/statusBar.ts); in
    // the worker placement the worker posts them, and the main thread reads the message.
    let changes = 0;
    let openSeen = 0;
    const t0 = performance.now();
    const onMain = await startEngine(args);
    const mainStartMs = performance.now() - t0;
    onMain.manager.on('changed', (name) => {
      changes++;
      openSeen = Math.max(openSeen, (name && onMain.manager.entry(name)?.counts?.openConnections) || 0);
    });
    await sleep(1000);
    const rssBefore = rssBytes(process.pid);
    const w = await startWorker(path.join(dir, 'engine.js'), args, (m) => {
      changes++;
      openSeen = Math.max(openSeen, (m as { open?: number }).open ?? 0);
    });
    await sleep(1000);
    const rssAfter = rssBytes(process.pid);
    const startups = [w.wallMs];
    for (let i = 0; i < 2; i++) {
      const extra = await startWorker(path.join(dir, 'engine.js'), args, () => undefined);
      startups.push(extra.wallMs);
      await stopWorker(extra.worker);
    }

    const placements: Record<Placement, { port: number; tid: number }> = {
      'main thread': { port: onMain.port, tid: threadId() },
      worker: { port: w.port, tid: w.tid },
    };
    const variants = (Object.keys(placements) as Placement[]).flatMap((pl) => PROFILES.map((pr) => ({ pl, pr })));
    const samples = new Map<string, Sample[]>(variants.map((v) => [`${v.pl}|${v.pr.name}`, []]));
    for (const pl of Object.keys(placements) as Placement[]) { // warm-up, not recorded
      await job({ kind: 'ping', port: placements[pl].port, count: 200 });
      await job({ kind: 'conn', port: placements[pl].port, count: 50 });
    }
    const loads: string[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      loads.push(loadavg());
      for (let k = 0; k < variants.length; k++) {
        const { pl, pr } = variants[(k + rep * 2) % variants.length];
        const { port, tid } = placements[pl];
        const v0 = performance.now();
        const stopBusy = busy(pr);
        await sleep(pr.everyMs + 10); // the busy rhythm under way
        // CPU in µs per unit of `f`, this engine's thread and all threads of this process.
        const cpuOf = async <T>(f: () => Promise<T>, units: number): Promise<[T, Cpu]> => {
          const e0 = taskCpuNs(tid);
          const p0 = processCpuNs();
          const r = await f();
          return [r, { engine: (taskCpuNs(tid) - e0) / 1000 / units, process: (processCpuNs() - p0) / 1000 / units }];
        };
        const [ping, cpuUsPerRound] = await cpuOf(() => job({ kind: 'ping', port, count: ROUNDS }), ROUNDS + 50);
        const w0 = taskWaitNs(tid);
        const s0 = performance.now();
        const stream = await job({ kind: 'stream', port, count: STREAM });
        const waitShare = (taskWaitNs(tid) - w0) / 1e6 / (performance.now() - s0);
        const [conn, cpuUsPerConn] = await cpuOf(() => job({ kind: 'conn', port, count: CONNS }), CONNS);
        const busyShare = stopBusy() / (performance.now() - v0);
        samples.get(`${pl}|${pr.name}`)!.push({ ping, stream, waitShare, conn, busyShare, cpuUsPerRound, cpuUsPerConn });
      }
    }
    const loadEnd = loadavg();

    const m = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));
    const f2 = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
    const lines = [
      `busyHost: the tunnel engine on the main thread vs in a worker, main thread busy; medians of ${REPS} interleaved repetitions`,
      `ping-pong: 32 B, ${ROUNDS} rounds on one connection, each after a random 1-4 ms pause; new connections: ${CONNS} at c=1, clean close, same pauses`,
      `steady stream: ${STREAM} messages of 32 B due every ${STREAM_EVERY_MS} ms on one connection (open loop), each timed from when it was due`,
      `load generator and backend: ${DETACHED ? 'each in its own session (autogroup)' : 'in this process\'s session (--same-session)'}; same-user check: ${args.ownerCheck ? 'on' : 'off (allowOtherUsers)'}; node ${process.version}; ${os.cpus().length} CPUs`,
      `load average (1/5/15 min): start ${loadStart}; per repetition ${loads.join(' | ')}; end ${loadEnd}`,
      '',
      '| engine | main thread | ping p50 / p99 / max (ms) | steady stream p50 / p99 / max (ms) | waiting for a CPU during the stream: engine thread / load generator | connect→first echo p50 / p99 (ms) | main thread busy (measured) |',
      '|---|---|---:|---:|---:|---:|---:|',
      ...variants.map(({ pl, pr }) => {
        const xs = samples.get(`${pl}|${pr.name}`)!;
        const three = (g: (s: Sample) => Stats) => (['p50Ms', 'p99Ms', 'maxMs'] as const).map((k) => f2(m(xs, (s) => g(s)[k]))).join(' / ');
        return `| ${pl} | ${pr.name} | ${three((s) => s.ping)} | ${three((s) => s.stream)} | ${(100 * m(xs, (s) => s.waitShare)).toFixed(1)} % / ${(100 * m(xs, (s) => s.stream.waitShare ?? NaN)).toFixed(1)} % | ${f2(m(xs, (s) => s.conn.p50Ms))} / ${f2(m(xs, (s) => s.conn.p99Ms))} | ${(100 * m(xs, (s) => s.busyShare)).toFixed(0)} % |`;
      }),
      '',
      'CPU, main thread idle (schedstat, µs): per ping-pong round trip (its connection\'s setup spread over its rounds) and per new connection (2 \'changed\' events each), engine thread / all threads of this process:',
      ...(Object.keys(placements) as Placement[]).map((pl) => {
        const xs = samples.get(`${pl}|idle`)!;
        const cpu = (g: (s: Sample) => Cpu) => `${m(xs, (s) => g(s).engine).toFixed(1)} / ${m(xs, (s) => g(s).process).toFixed(1)}`;
        return `  ${pl}: round trip ${cpu((s) => s.cpuUsPerRound)}; new connection ${cpu((s) => s.cpuUsPerConn)}`;
      }),
      `worker with the engine, idle: +${((rssAfter - rssBefore) / 1024 / 1024).toFixed(1)} MB RSS (process ${(rssBefore / 1024 / 1024).toFixed(0)} -> ${(rssAfter / 1024 / 1024).toFixed(0)} MB, 1 s after it listened)`,
      `start to listening: worker with the engine ${startups.map((x) => x.toFixed(0)).join(' / ')} ms (new Worker -> tunnel listening; median ${median(startups).toFixed(0)}); main thread manager.start ${mainStartMs.toFixed(0)} ms`,
      `'changed' events handled on the main thread, both placements: ${changes} (most open connections seen: ${openSeen})`,
    ];
    const text = `${lines.join('\n')}\n`;
    process.stdout.write(text);
    writeFileSync(OUT, text);
    await stopWorker(w.worker);
    await onMain.manager.dispose();
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--loadgen')) loadgen();
else main().then(() => process.exit(0), (e: Error) => {
  console.error(e);
  process.exit(1);
});
