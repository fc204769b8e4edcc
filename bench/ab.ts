/**
 * Two builds of the bridge side by side, for measuring one engine change at a time:
 * `npx tsx bench/ab.ts --a HEAD~1 --b . [--stunnel] [--only up,down,conn1,conn50,ping,paced,mem] [--reps N] [--mb N] [--fresh] [--smaps]`.
 *
 * `--a`/`--b` name a git revision (its `src/` is bundled), `.` (the working tree) or a bundled
 * CLI `.js` file. Both bridges (and stunnel with `--stunnel`) run at once against one backend and
 * are measured interleaved, so machine drift hits them alike; run.ts's own ratios against stunnel
 * swing by ±20 % between runs on a shared 2-core machine, too much to see a 10 % lever.
 * Bridge CPU comes from `/proc/PID/task/*\/schedstat` (nanoseconds, all threads) for Node; stunnel
 * runs a thread per connection whose schedstat vanishes with it, so its CPU is utime+stime ticks.
 * `--smaps` adds where the memory sits (the node binary, malloc's `[heap]`, anonymous); `--fresh`
 * starts new bridge processes for every repetition. `--a-tunnel JSON` / `--b-tunnel JSON` add
 * fields to that side's tunnel entry, for a lever that is a setting rather than a build:
 * `--a . --b . --b-tunnel '{"warmConnections":2}' --only conn1` measures warm connections.
 * `--upstream-delay-ms N` puts the backend N ms away each way (bench/delayRelay.ts), since
 * loopback has no round trips for a warm connection to save.
 * `MTLS_BENCH_ALLOW_OTHER_USERS=1` turns the same-user check off on both bridges (as in run.ts),
 * to see a lever on the dial without the owner lookup.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { createThrowawayPki, ThrowawayPki } from '../src/core/pki/testPki';
import { bulkDown, bulkUp, connRate, echoOnce, median, openIdle, percentile, pingPong, Target } from './load';
import { freePort, killAllNow, sleep, spawnPiped, start, Started, stop, stopAll, waitForPort } from './procs';

const ROOT = path.resolve(__dirname, '..');
const MB = 1024 * 1024;
const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);

interface Bridge {
  name: string;
  launch(): Promise<void>;
  halt(): Promise<void>;
  target: Target;
  pid: number;
  node: boolean;
}

async function bundleCli(spec: string, dir: string, label: string): Promise<string> {
  if (spec.endsWith('.js')) return path.resolve(spec);
  let src = ROOT;
  if (spec !== '.') {
    src = path.join(dir, `src-${label}`);
    mkdirSync(src);
    execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${spec}" src | tar -x -C "${src}"`]);
  }
  const out = path.join(dir, `cli-${label}.js`);
  await esbuild.build({
    entryPoints: [path.join(src, 'src', 'cli', 'main.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20',
    format: 'cjs', external: ['vscode'], mainFields: ['module', 'main'], logLevel: 'warning', nodePaths: [path.join(ROOT, 'node_modules')],
  });
  return out;
}

function cpuSeconds(b: Bridge): number {
  if (b.node) {
    let ns = 0;
    for (const t of readdirSync(`/proc/${b.pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${b.pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread is gone
      }
    }
    return ns / 1e9;
  }
  const stat = readFileSync(`/proc/${b.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const rssMB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

function smaps(pid: number): string {
  const sums = new Map<string, number>();
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      name = path.basename(m[1] || 'anon');
      continue;
    }
    const r = /^Rss:\s+(\d+)/.exec(line);
    if (r) sums.set(name, (sums.get(name) ?? 0) + Number(r[1]));
  }
  return [...sums].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${(v / 1024).toFixed(1)}`).join(', ');
}

function bridge(name: string, node: boolean, spawnIt: (port: number) => Started): Bridge {
  let current: Started | undefined;
  const b: Bridge = {
    name, node, target: { port: 0 }, pid: 0,
    async launch() {
      await b.halt();
      const port = await freePort();
      current = spawnIt(port);
      await waitForPort(port, current.child, 15_000);
      b.target = { port };
      b.pid = current.pid;
    },
    async halt() {
      if (current) await stop(current.child);
      current = undefined;
    },
  };
  return b;
}

async function main(): Promise<void> {
  const reps = Number(opt('--reps', '7'));
  const bytes = Number(opt('--mb', '256')) * MB;
  const only = new Set(opt('--only', 'up,down,conn1,conn50,ping').split(','));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-ab-'));
  try {
    const pki: ThrowawayPki = await createThrowawayPki(path.join(dir, 'pki'));
    await esbuild.build({ entryPoints: [path.join(ROOT, 'bench', 'backend.ts')], outfile: path.join(dir, 'backend.js'), bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' });
    const backend = spawnPiped(process.execPath, [path.join(dir, 'backend.js'), JSON.stringify({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca })], path.join(dir, 'backend.log'));
    const ports = await new Promise<{ tls: number }>((resolve) => backend.child.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString().split('\n')[0]))));
    const delayMs = Number(opt('--upstream-delay-ms', '0'));
    if (delayMs > 0) {
      await esbuild.build({ entryPoints: [path.join(ROOT, 'bench', 'delayRelay.ts')], outfile: path.join(dir, 'delayRelay.js'), bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' });
      const relay = spawnPiped(process.execPath, [path.join(dir, 'delayRelay.js'), JSON.stringify({ port: ports.tls, delayMs })], path.join(dir, 'relay.log'));
      ports.tls = await new Promise<number>((resolve) => relay.child.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString().split('\n')[0]).port)));
    }
    const bridges: Bridge[] = [];
    for (const label of ['a', 'b']) {
      const spec = opt(`--${label}`, label === 'a' ? 'HEAD' : '.');
      const cli = await bundleCli(spec, dir, label);
      const extra = JSON.parse(opt(`--${label}-tunnel`, '{}')) as Record<string, unknown>;
      const extraText = Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : '';
      bridges.push(bridge(`${label}=${spec}${extraText}`, true, (port) => {
        const config = path.join(dir, `tunnels-${port}.json`);
        writeFileSync(config, JSON.stringify({ tunnels: [{ name: 'ab', listen: port, target: `127.0.0.1:${ports.tls}`, serverName: 'localhost', cert: pki.client.cert, key: pki.client.key, ca: pki.ca, ...(process.env.MTLS_BENCH_ALLOW_OTHER_USERS ? { allowOtherUsers: true } : {}), ...extra }] }));
        return start(process.execPath, [cli, 'up', '--config', config], path.join(dir, `${label}.log`));
      }));
    }
    if (argv.includes('--stunnel')) {
      bridges.push(bridge('stunnel', false, (port) => {
        const conf = path.join(dir, `stunnel-${port}.conf`);
        writeFileSync(conf, ['foreground = yes', 'pid =', 'syslog = no' /* see run.ts: no /dev/console per line */, '[ab]', 'client = yes', `accept = 127.0.0.1:${port}`, `connect = 127.0.0.1:${ports.tls}`,
          `cert = ${pki.client.cert}`, `key = ${pki.client.key}`, `CAfile = ${pki.ca}`, 'verifyChain = yes', 'checkHost = localhost', 'sni = localhost',
          'socket = l:TCP_NODELAY=1', 'socket = r:TCP_NODELAY=1', ''].join('\n'));
        return start('stunnel', [conf], path.join(dir, 'stunnel.log'));
      }));
    }
    for (const b of bridges) {
      await b.launch();
      await echoOnce(b.target);
      await bulkUp(b.target, 8 * MB, 60_000);
      await bulkDown(b.target, 8 * MB, 60_000);
    }
    const res: Record<string, Record<string, number[]>> = {};
    const rec = (b: Bridge, k: string, v: number) => ((res[b.name] ??= {})[k] ??= []).push(v);
    for (let r = 0; r < reps; r++) {
      const order = [...bridges.slice(r % bridges.length), ...bridges.slice(0, r % bridges.length)];
      process.stderr.write(`repetition ${r + 1}/${reps}\n`);
      // A process keeps its place on the CPUs (next to the backend or not) for its whole life,
      // which interleaving cannot average out; --fresh starts new bridge processes every time.
      if (argv.includes('--fresh') && r > 0) {
        for (const b of bridges) {
          await b.launch();
          await echoOnce(b.target);
          await pingPong(b.target, 2000, 32, 50);
        }
      }
      for (const dirn of ['up', 'down'] as const) {
        if (!only.has(dirn)) continue;
        for (const b of order) {
          const c0 = cpuSeconds(b);
          const secs = dirn === 'up' ? await bulkUp(b.target, bytes, 180_000) : await bulkDown(b.target, bytes, 180_000);
          rec(b, `bulk ${dirn} MB/s`, bytes / MB / secs);
          rec(b, `CPU/GB ${dirn} (s)`, (cpuSeconds(b) - c0) / (bytes / 1e9));
        }
      }
      for (const c of [1, 50]) {
        if (!only.has(`conn${c}`)) continue;
        for (const b of order) {
          const c0 = cpuSeconds(b);
          const x = await connRate(b.target, c, 3000, 5000);
          rec(b, `conn/s c=${c}`, x.perSecond);
          // Connect to the first echoed byte, what a client waits for before its first answer.
          rec(b, `connect→echo p50 c=${c} (ms)`, x.p50Ms);
          rec(b, `connect→echo p99 c=${c} (ms)`, x.p99Ms);
          rec(b, `CPU/conn c=${c} (ms)`, ((cpuSeconds(b) - c0) * 1000) / x.count);
          await sleep(300);
        }
      }
      // One new connection every 20 ms, as a script or a test suite opens them: between them a
      // warm pool has time to refill, which back-to-back connections (conn1) never leave it.
      if (only.has('paced')) {
        for (const b of order) {
          const ms: number[] = [];
          for (let i = 0; i < 100; i++) {
            ms.push((await echoOnce(b.target)).ms);
            await sleep(20);
          }
          rec(b, 'paced 50/s connect→echo p50 (ms)', percentile(ms, 50));
          rec(b, 'paced 50/s connect→echo p99 (ms)', percentile(ms, 99));
        }
      }
      if (only.has('ping')) {
        for (const b of order) {
          const c0 = cpuSeconds(b);
          const x = await pingPong(b.target, 2000, 32, 50);
          rec(b, 'ping p50 (µs)', x.p50Ms * 1000);
          rec(b, 'ping p99 (µs)', x.p99Ms * 1000);
          rec(b, 'CPU/round (µs)', ((cpuSeconds(b) - c0) * 1e6) / 2050);
        }
      }
    }
    for (let r = 0; only.has('mem') && r < Math.min(reps, 3); r++) {
      for (const b of bridges) {
        await b.launch();
        await echoOnce(b.target);
        await sleep(1000);
        const idle = rssMB(b.pid);
        const where = [`idle: ${smaps(b.pid)}`];
        const sockets = await openIdle(b.target, 1000, 50);
        await sleep(1000);
        const loaded = rssMB(b.pid);
        where.push(`1000 open: ${smaps(b.pid)}`);
        for (const s of sockets) s.destroy();
        await sleep(3000);
        const after = rssMB(b.pid);
        where.push(`closed 3 s: ${smaps(b.pid)}`);
        if (argv.includes('--smaps')) process.stderr.write(`${b.name} (MB)\n  ${where.join('\n  ')}\n`);
        rec(b, 'RSS idle (MB)', idle);
        rec(b, 'RSS per idle conn (KB)', ((loaded - idle) * 1024) / 1000);
        rec(b, 'RSS after close / idle', after / idle);
      }
    }
    const names = bridges.map((b) => b.name);
    const keys = [...new Set(Object.values(res).flatMap((m) => Object.keys(m)))];
    const rows = [`| metric | ${names.join(' | ')} | b/a |`, `|---|${names.map(() => '---:').join('|')}|---:|`];
    for (const k of keys) {
      const m = names.map((n) => median(res[n]?.[k] ?? []));
      rows.push(`| ${k} | ${m.map((v) => (Number.isFinite(v) ? v.toFixed(2) : '–')).join(' | ')} | ${(m[1] / m[0]).toFixed(2)}× |`);
    }
    process.stdout.write(`\n${reps} interleaved repetitions, medians${delayMs > 0 ? `; backend ${delayMs} ms away each way` : ''}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n${rows.join('\n')}\n`);
    process.stdout.write(`\nsamples: ${JSON.stringify(res)}\n`);
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

process.once('exit', () => killAllNow());
main().catch((e: Error) => {
  process.stderr.write(`ab: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
