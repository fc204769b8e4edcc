/**
 * The per-message lever of issue 14, measured where it can be measured: a 32-byte ping-pong
 * through a minimal Node forwarder (plain TCP both ways, no TLS, no project code), its upstream
 * side read with `'data'` events (what the tunnel does) or with `onread` and one reused buffer
 * (no Buffer allocated per read, no stream machinery: the callback gets the bytes), with socat as
 * the non-Node reference. What the tunnel itself could gain is at most this: its local side is
 * an accepted socket, and Node offers `onread` only to sockets it connects (`net.connect`,
 * `tls.connect`), so only the upstream side could take it.
 *
 *   node --import tsx bench/perMessage.ts [--rounds 5000] [--reps 5]
 *
 * Each forwarder is its own process between the load generator (this process) and an echo
 * backend (bench/backend.ts's plain port, `E` mode). Variants are interleaved, repetitions
 * rotated; per variant: round-trip p50/p99 (medians over repetitions) and the forwarder's CPU per
 * round trip (`/proc/PID/task/*\/schedstat`, nanoseconds, all threads).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createThrowawayPki } from '../src/core/pki/testPki';
import { median, pingPong } from './load';
import { freePort, waitForPort } from './procs';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : fallback);

/** The forwarder process: `--forwarder data|onread LISTEN_PORT BACKEND_PORT`. */
function forwarder(mode: string, listenPort: number, backendPort: number): void {
  const server = net.createServer({ noDelay: true }, (client) => {
    client.on('error', () => undefined);
    let upstream: net.Socket;
    if (mode === 'onread') {
      const buffer = Buffer.allocUnsafe(64 * 1024);
      upstream = net.connect({
        host: '127.0.0.1', port: backendPort, noDelay: true,
        onread: {
          buffer,
          callback: (n: number, buf: Uint8Array) => {
            // The buffer is read into again at once: a write still queued must not point into it.
            // (32-byte messages are always written through at once; the copy is the safe path.)
            const bytes = (buf as Buffer).subarray(0, n);
            client.write(client.writableLength > 0 ? Buffer.from(bytes) : bytes);
            return true;
          },
        },
      });
    } else {
      upstream = net.connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
      upstream.on('data', (d: Buffer) => client.write(d));
    }
    upstream.on('error', () => client.destroy());
    client.on('data', (d: Buffer) => upstream.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(listenPort, '127.0.0.1');
}

function cpuNs(pid: number): number {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread is gone
    }
  }
  return ns;
}

async function main(): Promise<void> {
  const rounds = opt('rounds', 5000);
  const reps = opt('reps', 5);
  const children: ChildProcess[] = [];
  process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));
  const tsx = ['--import', 'tsx'];
  // The backend also listens with mTLS; only its plain port is used here.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mtls-permessage-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const pki = await createThrowawayPki(path.join(dir, 'pki'));
  const backend = spawn(process.execPath, [...tsx, path.join(__dirname, 'backend.ts'), JSON.stringify({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca })], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(backend);
  const ports = await new Promise<{ plain: number }>((resolve) => backend.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(String(d)))));

  const variants: { name: string; port: number; pid: number }[] = [];
  const launch = async (name: string, command: string, args: (port: number) => string[]) => {
    const port = await freePort();
    const child = spawn(command, args(port), { stdio: 'ignore' });
    children.push(child);
    await waitForPort(port, child, 15_000);
    variants.push({ name, port, pid: child.pid! });
  };
  await launch('node, data events', process.execPath, (p) => [...tsx, __filename, '--forwarder', 'data', String(p), String(ports.plain)]);
  await launch('node, onread + reused buffer', process.execPath, (p) => [...tsx, __filename, '--forwarder', 'onread', String(p), String(ports.plain)]);
  await launch('socat', 'socat', (p) => [`TCP-LISTEN:${p},bind=127.0.0.1,reuseaddr,fork,nodelay`, `TCP:127.0.0.1:${ports.plain},nodelay`]);

  const load0 = os.loadavg()[0].toFixed(2);
  const samples = new Map<string, { p50: number[]; p99: number[]; cpu: number[] }>(variants.map((v) => [v.name, { p50: [], p99: [], cpu: [] }]));
  for (let rep = 0; rep < reps; rep++) {
    const order = [...variants.slice(rep % variants.length), ...variants.slice(0, rep % variants.length)];
    for (const v of order) {
      await pingPong({ port: v.port }, 500, 32, 50); // warm-up (socat forks a process per connection)
      const c0 = cpuNs(v.pid);
      const r = await pingPong({ port: v.port }, rounds, 32, 50);
      const s = samples.get(v.name)!;
      s.p50.push(r.p50Ms * 1000);
      s.p99.push(r.p99Ms * 1000);
      // socat serves each connection in a forked child, so its parent's CPU says nothing.
      if (v.name !== 'socat') s.cpu.push((cpuNs(v.pid) - c0) / 1000 / (rounds + 51));
    }
    process.stderr.write(`repetition ${rep + 1}/${reps}\n`);
  }
  const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
  const base = samples.get('node, data events')!;
  process.stdout.write(`\n${reps} interleaved repetitions of ${rounds} round trips, 32 B; medians; load average ${load0} -> ${os.loadavg()[0].toFixed(2)}\n\n`);
  process.stdout.write('| forwarder | p50 (µs) | p99 (µs) | CPU per round trip (µs) | p50 vs data events |\n|---|---:|---:|---:|---:|\n');
  for (const [name, s] of samples) {
    process.stdout.write(`| ${name} | ${fmt(median(s.p50))} | ${fmt(median(s.p99))} | ${s.cpu.length ? fmt(median(s.cpu)) : '–'} | ${(median(s.p50) / median(base.p50)).toFixed(2)}× |\n`);
  }
  process.exit(0);
}

if (argv[0] === '--forwarder') forwarder(argv[1], Number(argv[2]), Number(argv[3]));
else void main();
