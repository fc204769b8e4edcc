/**
 * Micro-benchmark of the same-user check's owner lookup alone (issue 12: "keep the lookup cheap;
 * measure it"), the way connection churn makes it expensive: the kernel's TCP table full of
 * TIME_WAIT sockets. Linux only; a few seconds to a minute; touches only 127.0.0.1.
 *
 *   node --import tsx bench/ownerLookup.ts [--churn 20000] [--rounds 150] [--bursts 8] [--burst 50]
 *
 * 1. Opens and closes `--churn` loopback connections (the client closes first, so each leaves a
 *    TIME_WAIT socket for 60 s), and says how many lines /proc/net/tcp then has.
 * 2. c=1: `--rounds` times, one client connects to a listener and every variant looks up the owner
 *    of the same accepted socket, in an order rotated each round; each must say it is ours.
 * 3. Bursts: `--bursts` times per variant, `--burst` clients connect at once and each accepted
 *    socket is looked up from its `connection` event (so lookups of one turn can share a read).
 * Per variant: lookup time p50/p99 (c=1), accept→verdict p50/p99 and the whole burst (bursts), and
 * (c=1) the longest the event loop went without a turn during each lookup (what the tunnel's other
 * connections wait), p50/p99.
 *
 * Variants: `before` (bench/ownerLookupBefore.ts: async 64 KiB reads, text split per chunk),
 * `now` (src/core/tunnel/socketOwner.ts: sync reads into a reused buffer, byte scan, 16 pages a
 * turn), and two drivers of the same byte scan that isolate one choice each: `sync-one-turn` (no
 * yielding between pages), `async-bytes` (fs.promises reads, one threadpool hop per page).
 * Plus `whole-table`: one synchronous read of the entire table, the kernel's cost of listing it.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { peerOwner as peerOwnerBefore } from './ownerLookupBefore';
import { percentile } from './load';
import { peerOwner as peerOwnerNow } from '../src/core/tunnel/socketOwner';
import { tablePatterns, TableScan } from '../src/core/tunnel/socketTable';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const CHURN = arg('churn', 20_000);
const ROUNDS = arg('rounds', 150);
const BURSTS = arg('bursts', 8);
const BURST = arg('burst', 50);

type Lookup = (socket: net.Socket) => Promise<number | 'gone' | undefined>;

/** The byte scan over one file, driven synchronously in one go or asynchronously page by page. */
async function scanDriven(socket: net.Socket, mode: 'sync' | 'async'): Promise<number | 'gone' | undefined> {
  const patterns = tablePatterns({ address: socket.remoteAddress!, port: socket.remotePort! }, { address: socket.localAddress!, port: socket.localPort! });
  for (const { file, pattern } of patterns) {
    const scan = new TableScan([pattern], Buffer.allocUnsafe(64 * 1024));
    if (mode === 'sync') {
      const fd = fs.openSync(file, 'r');
      try {
        while (!scan.done) {
          const { buffer, offset, length } = scan.space();
          scan.advance(fs.readSync(fd, buffer, offset, length, null));
        }
      } finally {
        fs.closeSync(fd);
      }
    } else {
      const handle = await fs.promises.open(file, 'r');
      try {
        while (!scan.done) {
          const { buffer, offset, length } = scan.space();
          scan.advance((await handle.read(buffer, offset, length, null)).bytesRead);
        }
      } finally {
        await handle.close();
      }
    }
    const entry = scan.entries[0];
    if (entry) return entry.held ? entry.uid : 'gone';
  }
  return undefined;
}

const WHOLE = Buffer.allocUnsafe(64 * 1024);
/** Reads all of /proc/net/tcp (no answer: the cost of the kernel listing every socket). */
async function wholeTable(): Promise<number> {
  const fd = fs.openSync('/proc/net/tcp', 'r');
  try {
    while (fs.readSync(fd, WHOLE, 0, WHOLE.length, null) > 0);
  } finally {
    fs.closeSync(fd);
  }
  return process.getuid!();
}

const VARIANTS: [string, Lookup][] = [
  ['before', peerOwnerBefore],
  ['now', peerOwnerNow],
  ['sync-one-turn', (s) => scanDriven(s, 'sync')],
  ['async-bytes', (s) => scanDriven(s, 'async')],
  ['whole-table', () => wholeTable()],
];

function tableLines(): number {
  return fs.readFileSync('/proc/net/tcp', 'latin1').split('\n').length - 2;
}

function listen(onConnection: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ pauseOnConnect: true }, onConnection);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function port(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

async function churn(count: number): Promise<void> {
  const server = await listen((s) => {
    s.on('error', () => undefined);
    s.on('end', () => s.end());
    s.resume();
  });
  let started = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const c = net.connect(port(server), '127.0.0.1', () => c.end());
      c.on('error', () => resolve());
      c.on('close', () => resolve());
      c.resume();
    });
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (started < count) {
      started++;
      await one();
    }
  }));
  server.close();
}

/** Connects `n` clients at once; resolves with their accepted sockets as `onAccept` saw them. */
async function clients(server: net.Server, n: number): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const c = net.connect(port(server), '127.0.0.1');
    c.on('error', () => undefined);
    out.push(c);
  }
  await Promise.all(out.map((c) => new Promise((r) => c.once('connect', r))));
  return out;
}

/**
 * The longest the event loop went without a turn while started: a setImmediate chain notes the
 * gap between its turns (what the tunnel's other connections would have waited).
 */
class StallMeter {
  max = 0;
  private last = 0;
  private on = false;
  private readonly tick = () => {
    const now = performance.now();
    this.max = Math.max(this.max, now - this.last);
    this.last = now;
    if (this.on) setImmediate(this.tick);
  };
  start(): void {
    this.max = 0;
    this.on = true;
    this.last = performance.now();
    setImmediate(this.tick);
  }
  stop(): void {
    this.on = false;
    this.tick();
  }
}

function stat(values: number[]): string {
  return `p50 ${percentile(values, 50).toFixed(2)} ms, p99 ${percentile(values, 99).toFixed(2)} ms`;
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') throw new Error('Linux only (/proc/net/tcp)');
  const uid = process.getuid!();
  const before = tableLines();
  const t0 = Date.now();
  await churn(CHURN);
  const churned = tableLines();
  console.log(`churn: ${CHURN} connections in ${Date.now() - t0} ms; /proc/net/tcp lines ${before} -> ${churned} (TIME_WAIT lasts 60 s: the rest must finish well within that)`);

  const meter = new StallMeter();
  const stalls = new Map<string, number[]>(VARIANTS.map(([name]) => [name, []]));
  const check = (name: string, owner: unknown) => {
    if (owner !== uid) throw new Error(`${name} said ${String(owner)} for our own client, not ${uid}`);
  };

  // c=1: every variant on the same accepted socket, order rotated.
  let accepted: ((s: net.Socket) => void) | undefined;
  const server = await listen((s) => accepted?.(s));
  const single = new Map<string, number[]>(VARIANTS.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const socket = new Promise<net.Socket>((r) => (accepted = r));
    const [client] = await clients(server, 1);
    const s = await socket;
    for (let k = 0; k < VARIANTS.length; k++) {
      const [name, lookup] = VARIANTS[(round + k) % VARIANTS.length];
      meter.start();
      const t = performance.now();
      check(name, await lookup(s));
      single.get(name)!.push(performance.now() - t);
      meter.stop();
      stalls.get(name)!.push(meter.max);
    }
    client.end();
    s.destroy();
  }

  // Bursts: the lookups start from each `connection` event, as the tunnel's do.
  const burstWhole = new Map<string, number[]>(VARIANTS.map(([name]) => [name, []]));
  const burstEach = new Map<string, number[]>(VARIANTS.map(([name]) => [name, []]));
  // Only the two real implementations: the others' drivers have no batching to measure.
  const batching = VARIANTS.filter(([name]) => name === 'before' || name === 'now');
  for (let b = 0; b < BURSTS; b++) {
    for (let k = 0; k < batching.length; k++) {
      const [name, lookup] = batching[(b + k) % batching.length];
      const verdicts: Promise<void>[] = [];
      const sockets: net.Socket[] = [];
      const start = performance.now();
      accepted = (s) => {
        sockets.push(s);
        const t = performance.now();
        verdicts.push(lookup(s).then((owner) => {
          check(name, owner);
          burstEach.get(name)!.push(performance.now() - t);
        }));
      };
      const cs = await clients(server, BURST);
      while (verdicts.length < BURST) await new Promise((r) => setImmediate(r));
      await Promise.all(verdicts);
      burstWhole.get(name)!.push(performance.now() - start);
      for (const c of cs) c.destroy();
      for (const s of sockets) s.destroy();
    }
  }
  server.close();
  const after = tableLines();
  console.log(`measured in ${((Date.now() - t0) / 1000).toFixed(1)} s from the churn's start; /proc/net/tcp lines at the end ${after}`);
  console.log('');
  console.log(`| variant | c=1 lookup (${ROUNDS}) | burst of ${BURST}: accept→verdict | whole burst (${BURSTS}) | c=1: longest loop stall per lookup |`);
  console.log('|---|---:|---:|---:|---:|');
  for (const [name] of VARIANTS) {
    const burst = burstEach.get(name)!.length > 0;
    const each = burst ? stat(burstEach.get(name)!) : '–';
    const whole = burst ? `p50 ${percentile(burstWhole.get(name)!, 50).toFixed(1)} ms` : '–';
    console.log(`| ${name} | ${stat(single.get(name)!)} | ${each} | ${whole} | ${stat(stalls.get(name)!)} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
