/**
 * Micro-benchmark of the same-user check's owner lookup alone (issue 12: "keep the lookup cheap;
 * measure it"), the way connection churn makes it expensive: the kernel's TCP table full of
 * TIME_WAIT sockets. Linux only; a few seconds to a minute; touches only 127.0.0.1. (Longer than
 * 300 lines: one measurement, its variants and its report read best together.)
 *
 *   node --import tsx bench/ownerLookup.ts [--churn 20000] [--own-churn 3000] [--rounds 25] [--bursts 4] [--burst 50]
 *
 * 1. Opens and closes `--churn` loopback connections spread over 12 listeners (the client closes
 *    first, so each leaves a TIME_WAIT socket for 60 s), and says how many lines /proc/net/tcp has.
 * 2. Finds where each listener's clients are listed in the table (the kernel puts the clients of
 *    one listener together, at a place set by its port) and keeps the earliest, middle and latest.
 * 3. c=1: per kept listener, `--own-churn` more connections to it (the busy tunnel's own recent
 *    clients), then `--rounds` times (one listener after the other, as one busy tunnel sees its
 *    clients) one client connects and every variant looks up the owner of the same
 *    accepted socket, in an order rotated each round; each must say it is ours. Then `now` alone,
 *    `--rounds` times with the three listeners in turn (three busy tunnels at once).
 * 4. Bursts at the latest-placed listener: `--bursts` times per variant, `--burst` clients connect
 *    at once and each accepted socket is looked up from its `connection` event (so lookups of one
 *    turn can share a read).
 * Per variant: lookup time p50/p99 (c=1), accept→verdict p50/p99 and the whole burst (bursts), and
 * (c=1) the longest the event loop went without a turn during each lookup (what the tunnel's other
 * connections wait), p50/p99.
 *
 * Variants: `before` (bench/ownerLookupBefore.ts: async 64 KiB reads, text split per chunk),
 * `now` (src/core/tunnel/socketOwner.ts: sync reads into a reused buffer, byte scan, 16 pages a
 * turn), and two drivers of the same byte scan that isolate one choice each: `sync-one-turn` (no
 * yielding between pages), `async-bytes` (fs.promises reads, one threadpool hop per page).
 * Plus `whole-table`: one synchronous read of the entire table, the kernel's cost of listing it,
 * and, where python3 runs, `netlink-exact`: the lever the project cannot pull without a native
 * module, an exact sock_diag lookup, made by a helper process (bench/sockDiagExact.py) over a pipe.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { peerOwner as peerOwnerBefore } from './ownerLookupBefore';
import { percentile } from './load';
import { peerOwner as peerOwnerNow } from '../src/core/tunnel/socketOwner';
import { tablePatterns, TableScan } from '../src/core/tunnel/socketTable';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const CHURN = arg('churn', 20_000);
const ROUNDS = arg('rounds', 25);
const BURSTS = arg('bursts', 4);
const BURST = arg('burst', 50);
const OWN_CHURN = arg('own-churn', 3000);

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

/** Exact sock_diag lookups through bench/sockDiagExact.py, one line each way per lookup. */
function netlinkHelper(): Lookup | undefined {
  if (spawnSync('python3', ['-c', 'import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)']).status !== 0) return undefined;
  const child = spawn('python3', [path.join(__dirname, 'sockDiagExact.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref?.();
  const answers: ((line: string) => void)[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => answers.shift()?.(line));
  process.on('exit', () => child.kill());
  return (socket) =>
    new Promise((resolve) => {
      answers.push((line) => {
        const [uid, inode] = line.split(' ').map(Number);
        resolve(line === 'none' ? undefined : inode ? uid : 'gone');
      });
      child.stdin.write(`${socket.remotePort} ${socket.localPort}\n`);
    });
}

const netlink = netlinkHelper();
const VARIANTS: [string, Lookup][] = [
  ['before', peerOwnerBefore],
  ['now', peerOwnerNow],
  ['sync-one-turn', (s) => scanDriven(s, 'sync')],
  ['async-bytes', (s) => scanDriven(s, 'async')],
  ['whole-table', () => wholeTable()],
  ...(netlink ? [['netlink-exact', netlink] as [string, Lookup]] : []),
];

function tableLines(): number {
  return fs.readFileSync('/proc/net/tcp', 'latin1').split('\n').length - 2;
}

function listen(onConnection: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ pauseOnConnect: true }, (s) => {
    s.on('error', () => undefined);
    onConnection(s);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function port(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/** Ends an accepted socket after its client has: the client's end keeps the TIME_WAIT. */
function closeAfterClient(s: net.Socket): void {
  s.on('end', () => s.end());
  s.resume();
}

/** Opens and closes `count` connections spread over `servers` (the client closes first: TIME_WAIT). */
async function churn(servers: net.Server[], count: number): Promise<void> {
  let started = 0;
  const one = (server: net.Server) =>
    new Promise<void>((resolve) => {
      const c = net.connect(port(server), '127.0.0.1', () => c.end());
      c.on('error', () => resolve());
      c.on('close', () => resolve());
      c.resume();
    });
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (started < count) await one(servers[started++ % servers.length]);
  }));
}

/** Where a client of `server` is listed, as a fraction of the table's lines (0 first, 1 last). */
async function placement(server: net.Server): Promise<number> {
  const [client] = await clients(server, 1);
  const [{ pattern }] = tablePatterns({ address: '127.0.0.1', port: client.localPort! }, { address: '127.0.0.1', port: port(server) });
  const lines = fs.readFileSync('/proc/net/tcp', 'latin1').split('\n');
  const at = lines.findIndex((l) => l.includes(pattern));
  client.destroy();
  return at / lines.length;
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
  const check = (name: string, owner: unknown) => {
    if (owner !== uid) throw new Error(`${name} said ${String(owner)} for our own client, not ${uid}`);
  };
  // The kernel (since 6.15?) hashes a socket's local port linearly into its bucket, so the clients
  // of one listener sit together, at a place in the table set by the listener's address and port:
  // a tunnel's lookups cost about the same every time, and what they cost depends on its port.
  // Twelve listeners share the churn; the earliest, middle and latest placed are measured.
  let accepted: ((s: net.Socket) => void) | undefined;
  const servers = await Promise.all(Array.from({ length: 12 }, () => listen((s) => (accepted ? accepted(s) : closeAfterClient(s)))));
  const before = tableLines();
  const t0 = Date.now();
  await churn(servers, CHURN);
  console.log(`churn: ${CHURN} connections over ${servers.length} listeners in ${Date.now() - t0} ms; /proc/net/tcp lines ${before} -> ${tableLines()} (TIME_WAIT lasts 60 s: the rest must finish well within that)`);
  const placed: { server: net.Server; at: number }[] = [];
  for (const server of servers) placed.push({ server, at: await placement(server) });
  placed.sort((a, b) => a.at - b.at);
  const chosen = [placed[0], placed[Math.floor(placed.length / 2)], placed[placed.length - 1]];
  console.log(`listeners' clients are listed at ${placed.map((p) => `${Math.round(p.at * 100)} %`).join(', ')} of the table; measured: ${chosen.map((p) => `${Math.round(p.at * 100)} %`).join(', ')}`);

  // c=1: every variant on the same accepted socket, order rotated; one listener after the other,
  // as one busy tunnel sees its clients. Then `now` alone with the three listeners in turn, as
  // three busy tunnels at once would (each lookup starts where another tunnel's stopped).
  const meter = new StallMeter();
  const key = (name: string, at: number) => `${name}@${Math.round(at * 100)}`;
  const single = new Map<string, number[]>();
  const stalls = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  const measure = async (server: net.Server, at: number, variants: [string, Lookup][], label = (name: string) => key(name, at)) => {
    const socket = new Promise<net.Socket>((r) => (accepted = r));
    const [client] = await clients(server, 1);
    const s = await socket;
    for (const [name, lookup] of variants) {
      meter.start();
      const t = performance.now();
      check(name, await lookup(s));
      push(single, label(name), performance.now() - t);
      meter.stop();
      push(stalls, label(name), meter.max);
    }
    client.end();
    s.destroy();
  };
  for (const { server, at } of chosen) {
    // This listener is the busy tunnel: its own recent clients' TIME_WAIT lines around its place.
    accepted = undefined;
    await churn([server], OWN_CHURN);
    for (let round = 0; round < ROUNDS; round++) {
      await measure(server, at, VARIANTS.map((_, k) => VARIANTS[(round + k) % VARIANTS.length]));
    }
  }
  const inTurn = 'now, 3 listeners in turn';
  const now = VARIANTS.filter(([name]) => name === 'now');
  for (let round = 0; round < ROUNDS; round++) {
    for (const { server, at } of chosen) await measure(server, at, now, () => inTurn);
  }

  // Bursts at the latest-placed listener: lookups start from each `connection` event, as the
  // tunnel's do. Only the two real implementations: the other drivers do not batch.
  const last = chosen[2];
  const burstWhole = new Map<string, number[]>();
  const burstEach = new Map<string, number[]>();
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
          push(burstEach, name, performance.now() - t);
        }));
      };
      const cs = await clients(last.server, BURST);
      while (verdicts.length < BURST) await new Promise((r) => setImmediate(r));
      await Promise.all(verdicts);
      push(burstWhole, name, performance.now() - start);
      for (const c of cs) c.destroy();
      for (const s of sockets) s.destroy();
    }
  }
  for (const server of servers) server.close();
  console.log(`measured in ${((Date.now() - t0) / 1000).toFixed(1)} s from the churn's start; /proc/net/tcp lines at the end ${tableLines()}`);
  console.log('');
  console.log(`| variant | where the clients are listed | c=1 lookup (${ROUNDS}) | c=1: longest loop stall per lookup | burst of ${BURST} (${BURSTS}×, latest placed): accept→verdict | whole burst |`);
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name] of VARIANTS) {
    for (const { at } of chosen) {
      const k = key(name, at);
      const burst = at === last.at && burstEach.has(name);
      const each = burst ? stat(burstEach.get(name)!) : '';
      const whole = burst ? `p50 ${percentile(burstWhole.get(name)!, 50).toFixed(1)} ms` : '';
      console.log(`| ${name} | ${Math.round(at * 100)} % | ${stat(single.get(k)!)} | ${stat(stalls.get(k)!)} | ${each} | ${whole} |`);
    }
  }
  console.log(`| ${inTurn} | ${chosen.map((c) => `${Math.round(c.at * 100)} %`).join(', ')} | ${stat(single.get(inTurn)!)} | ${stat(stalls.get(inTurn)!)} | | |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
