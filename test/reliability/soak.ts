/**
 * The soak: a bounded run of mixed traffic through three tunnels while memory is sampled after a
 * forced GC; fails if the second half of the run shows growth. Not a *.test.ts: `npm test` leaves
 * it out; `npm run test:soak` runs it (`-- --minutes N` to shorten; default 10).
 *
 * Traffic, all byte-checked: short uploads to a hashing sink, long uploads and downloads (MBs),
 * long-lived ping-pong connections, PostgreSQL sessions through a `postgres` tunnel, and every
 * few seconds a fault: a backend reset at accept, a backend that never answers (connect
 * timeout), a client that vanishes mid-download, a refused client certificate; every 20 s the
 * credential files of one tunnel are replaced (it reloads them).
 *
 * Verdict, over the samples after warm-up (the second half): the slope of a least-squares line
 * through heapUsed must stay under 1 MiB/min, RSS must not grow more than 20 %, every operation
 * must succeed (faults must fail the way they should), and after the traffic stops the tunnels
 * hold no connection and the process no more descriptors than before it started.
 * Prints a table and writes test-results/soak.json.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { tunnelConfig } from '../support/tunnels';
import { makePki } from '../support/pkiFixture';
import { closed, connectLocal, readBytes, readToEnd, sleep, until, within, writeAll } from '../support/tunnelKit';
import { fakePostgres, postgresSession } from '../support/fakePostgres';
import { openFds, prng, SeededBytes, seededBytes, sha256Hex, startScriptedBackend } from './kit';

const MiB = 1024 * 1024;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

const MINUTES = option('minutes', 10);
const SAMPLE_SECONDS = option('sample-seconds', 5);
const HEAP_SLOPE_LIMIT = 1 * MiB; // bytes per minute
const RSS_GROWTH_LIMIT = 0.2;
const OUT = path.join('test-results', 'soak.json');

interface Sample {
  seconds: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  fds: number;
  openConnections: number;
}

interface OpStats {
  ok: number;
  failed: number;
  bytes: number;
  errors: string[];
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const mb = (n: number) => (n / MiB).toFixed(1);

async function main(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run test:soak does)');
  const began = Date.now();
  const deadline = began + MINUTES * 60_000;
  // Whatever happens, the run ends: a watchdog two minutes past the end.
  const watchdog = setTimeout(() => {
    console.error('soak: watchdog fired, the run did not finish in time');
    process.exit(2);
  }, MINUTES * 60_000 + 120_000);

  const { pki, dispose } = await makePki();
  const backend = await startScriptedBackend(undefined, pki, { recordClients: false });
  const pg = await startScriptedBackend(undefined, pki, { postgres: true, handler: fakePostgres, recordClients: false });
  // Faults that act at accept get a backend of their own, so no other connection meets them.
  const faulty = await startScriptedBackend(undefined, pki, { handshakeTimeoutMs: 1000, recordClients: false });
  // The reloading tunnel's identity lives in files of its own, replaced every 20 s.
  const live = { cert: path.join(pki.dir, 'soak-client.crt'), key: path.join(pki.dir, 'soak-client.key') };
  const identities = [await pki.intermediate.issue({ commonName: 'alice', usage: 'client' }), await pki.intermediate.issue({ commonName: 'bob', usage: 'client' })];
  const install = async (i: number) => {
    await writeFile(`${live.key}.tmp`, identities[i].keyPem);
    await writeFile(`${live.cert}.tmp`, identities[i].chainPem);
    await rename(`${live.key}.tmp`, live.key);
    await rename(`${live.cert}.tmp`, live.cert);
  };
  await install(0);

  const tunnels = {
    tls: new Tunnel(tunnelConfig(pki, backend.port, { name: 'soak-tls', cert: live.cert, key: live.key, idleTimeoutMs: 30_000 }), { watchCredentials: true, drainTimeoutMs: 1000 }),
    pg: new Tunnel(tunnelConfig(pki, pg.port, { name: 'soak-pg', protocol: 'postgres' }), { watchCredentials: false, drainTimeoutMs: 1000 }),
    // A client certificate the server refuses, to a backend that also resets or stalls on demand.
    faulty: new Tunnel(tunnelConfig(pki, faulty.port, { name: 'soak-faulty', cert: pki.rogueClient.cert, key: pki.rogueClient.key, connectTimeoutMs: 500 }), { watchCredentials: false, drainTimeoutMs: 1000 }),
  };
  for (const t of Object.values(tunnels)) await within(t.start(), 5000, `${t.name} to start`);
  const port = (t: Tunnel) => t.address()!.port;
  let reloads = 0;
  tunnels.tls.on('credentialsReloaded', () => reloads++);

  gc();
  const baselineFds = openFds();
  const stats: Record<string, OpStats> = {};
  const record = async (name: string, op: () => Promise<number>, ms = 60_000) => {
    const s = (stats[name] ??= { ok: 0, failed: 0, bytes: 0, errors: [] });
    try {
      s.bytes += await within(op(), ms, name);
      s.ok++;
    } catch (e) {
      s.failed++;
      if (s.errors.length < 5) s.errors.push((e as Error).message);
    }
  };
  const running = () => Date.now() < deadline;
  /** Sleeps, but not past the end of the run. */
  const pause = (ms: number) => sleep(Math.max(0, Math.min(ms, deadline - Date.now())));
  const random = prng(0x50a);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  let serial = 0;

  // ---- the traffic ----
  const short = async () => {
    const size = between(1, 64 * 1024);
    const data = seededBytes(`short-${++serial}`, size);
    const c = await connectLocal(undefined, port(tunnels.tls));
    c.write('sink\n');
    const reply = readToEnd(c, 10_000);
    await writeAll(c, data);
    const got = (await reply).data!.toString();
    if (got !== `${size} ${sha256Hex(data)}\n`) throw new Error(`sink says ${got.trim()} for ${size} bytes`);
    return size;
  };
  const longUpload = async () => {
    const size = between(4 * MiB, 16 * MiB);
    const source = new SeededBytes(`long-${++serial}`);
    const c = await connectLocal(undefined, port(tunnels.tls));
    c.write('sink\n');
    const reply = readToEnd(c, 60_000);
    const hash = createHash('sha256');
    for (let sent = 0; sent < size;) {
      const chunk = source.next(Math.min(256 * 1024, size - sent));
      hash.update(chunk);
      sent += chunk.length;
      await writeAll(c, chunk, { end: false });
    }
    c.end();
    const got = (await reply).data!.toString();
    if (got !== `${size} ${hash.digest('hex')}\n`) throw new Error(`sink says ${got.trim()} for ${size} bytes`);
    return size;
  };
  const longDownload = async () => {
    const size = between(1 * MiB, 8 * MiB);
    const id = `down-${++serial}`;
    const c = await connectLocal(undefined, port(tunnels.tls));
    const reply = readToEnd(c, 60_000, { keep: false });
    c.write(`halfclose ${size} ${id}\n`);
    const got = await reply;
    c.end();
    await closed(c, 10_000);
    if (got.bytes !== size || got.sha256 !== sha256Hex(seededBytes(id, size))) throw new Error(`${id}: got ${got.bytes} of ${size} bytes`);
    backend.afterEnd.delete(id);
    return size;
  };
  const pgSession = async () => {
    const types = await postgresSession(undefined, port(tunnels.pg));
    if (types.join('') !== 'RZCZ') throw new Error(`session went ${types.join('')}`);
    return 0;
  };
  const pingPong = async (id: number) => {
    const c = await connectLocal(undefined, port(tunnels.tls));
    c.write('echo\n');
    const source = new SeededBytes(`pingpong-${id}`);
    let bytes = 0;
    while (running()) {
      const message = source.next(between(1, 4096));
      c.write(message);
      const echoed = await readBytes(c, message.length, 10_000);
      if (!echoed.equals(message)) throw new Error(`ping-pong ${id}: an echo differs`);
      bytes += message.length;
      await sleep(between(0, 20));
    }
    c.end();
    await closed(c, 10_000);
    return bytes;
  };

  // ---- the faults: each must fail the way it should, and only the connection it hits ----
  /** A connection through the faulty tunnel that must be closed without passing a byte. */
  const turnedAway = async () => {
    const c = await connectLocal(undefined, port(tunnels.faulty));
    let got = 0;
    c.on('data', (d: Buffer) => (got += d.length));
    c.write('echo\nhello');
    const t0 = Date.now();
    await closed(c, 10_000);
    if (got > 0) throw new Error('a failed connection passed bytes');
    return Date.now() - t0;
  };
  const faults: Record<string, () => Promise<number>> = {
    'fault: reset at accept': async () => {
      faulty.fates.push('reset');
      await turnedAway();
      return 0;
    },
    'fault: silent backend': async () => {
      faulty.fates.push('silent');
      if ((await turnedAway()) > 5000) throw new Error('the connect timeout (500 ms) did not fire');
      return 0;
    },
    'fault: client vanishes mid-download': async () => {
      const c = await connectLocal(undefined, port(tunnels.tls));
      c.write(`stream vanish-${++serial}\n`);
      await readBytes(c, between(1, 512 * 1024), 10_000);
      if (random() < 0.5) c.destroy();
      else c.resetAndDestroy();
      return 0;
    },
    'fault: refused certificate': async () => {
      await turnedAway();
      return 0;
    },
  };

  const worker = async (name: string, op: () => Promise<number>, pauseMs: [number, number]) => {
    while (running()) {
      await record(name, op);
      await pause(between(...pauseMs));
    }
  };
  const workers = [
    ...Array.from({ length: 4 }, () => worker('short upload', short, [0, 10])),
    worker('long upload', longUpload, [100, 500]),
    worker('long download', longDownload, [100, 500]),
    ...Array.from({ length: 2 }, () => worker('postgres session', pgSession, [5, 50])),
    ...Array.from({ length: 5 }, (_, i) => record('ping-pong', () => pingPong(i), MINUTES * 60_000 + 30_000)),
    (async () => {
      const names = Object.keys(faults);
      while (running()) {
        await pause(between(1000, 3000));
        if (!running()) break;
        const name = names[between(0, names.length - 1)];
        await record(name, faults[name]);
      }
    })(),
    (async () => {
      let which = 0;
      while (running()) {
        await pause(20_000);
        if (!running()) break;
        which = 1 - which;
        const before = reloads;
        await record('credential reload', async () => {
          await install(which);
          await until(() => reloads > before, 10_000, 'the reload');
          return 0;
        });
      }
    })(),
  ];

  // ---- sampling ----
  const samples: Sample[] = [];
  const sample = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    const s: Sample = {
      seconds: Math.round((Date.now() - began) / 1000),
      rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers,
      fds: openFds(),
      openConnections: Object.values(tunnels).reduce((n, t) => n + t.snapshot().openConnections, 0),
    };
    samples.push(s);
    return s;
  };
  sample();
  const sampler = setInterval(() => {
    const s = sample();
    const ops = Object.values(stats).reduce((n, o) => n + o.ok + o.failed, 0);
    console.log(`soak ${String(s.seconds).padStart(4)} s  rss ${mb(s.rss).padStart(6)} MiB  heap ${mb(s.heapUsed).padStart(6)} MiB  ext ${mb(s.external).padStart(6)} MiB  fds ${String(s.fds).padStart(4)}  open ${String(s.openConnections).padStart(3)}  ops ${ops}`);
  }, SAMPLE_SECONDS * 1000);

  await Promise.all(workers);
  clearInterval(sampler);

  // ---- after the traffic: nothing left open ----
  const leaks: string[] = [];
  await until(() => Object.values(tunnels).every((t) => t.snapshot().openConnections === 0), 15_000, 'the tunnels to close every connection').catch((e: Error) => leaks.push(e.message));
  await until(() => backend.open() === 0 && pg.open() === 0 && faulty.open() === 0, 15_000, 'the backends to hold no connection').catch((e: Error) => leaks.push(e.message));
  await sleep(500);
  const finalFds = openFds();
  if (finalFds > baselineFds + 4) leaks.push(`${finalFds} fds open after the run, ${baselineFds} before`);
  const totals = Object.fromEntries(Object.entries(tunnels).map(([k, t]) => {
    const s = t.snapshot();
    return [k, { connections: s.totalConnections, handshakesOk: s.handshakesOk, handshakesFailed: s.handshakesFailed, bytesUp: s.bytesUp, bytesDown: s.bytesDown }];
  }));
  for (const t of Object.values(tunnels)) await t.stop();
  await backend.close();
  await pg.close();
  await faulty.close();
  await dispose();

  // ---- verdict, over the samples taken while the traffic ran ----
  const half = samples.filter((s) => s.seconds >= (MINUTES * 60) / 2 && s.seconds <= MINUTES * 60);
  const xs = half.map((s) => s.seconds / 60);
  const heapSlope = slope(xs, half.map((s) => s.heapUsed));
  const rssSlope = slope(xs, half.map((s) => s.rss));
  const rssGrowth = half.length > 1 ? (half[half.length - 1].rss - half[0].rss) / half[0].rss : 0;
  const failures: string[] = [];
  if (half.length < 4) failures.push(`only ${half.length} samples in the second half; sample more often`);
  if (heapSlope > HEAP_SLOPE_LIMIT) failures.push(`heapUsed grows ${mb(heapSlope)} MiB/min over the second half (limit ${mb(HEAP_SLOPE_LIMIT)})`);
  if (rssGrowth > RSS_GROWTH_LIMIT) failures.push(`RSS grew ${(rssGrowth * 100).toFixed(1)} % over the second half (limit ${RSS_GROWTH_LIMIT * 100} %)`);
  for (const [name, s] of Object.entries(stats)) if (s.failed > 0) failures.push(`${name}: ${s.failed} failed (${s.errors.join('; ')})`);
  for (const name of ['short upload', 'long upload', 'long download', 'postgres session', 'ping-pong']) if (!stats[name]?.ok) failures.push(`${name}: never succeeded`);
  failures.push(...leaks);

  console.log('\noperation                              ok  failed       MiB');
  for (const [name, s] of Object.entries(stats).sort()) console.log(`${name.padEnd(36)} ${String(s.ok).padStart(5)} ${String(s.failed).padStart(7)} ${mb(s.bytes).padStart(9)}`);
  console.log('\n seconds    rss MiB   heap MiB    ext MiB   fds  open');
  const step = Math.max(1, Math.floor(samples.length / 20));
  for (const s of samples.filter((_, i) => i % step === 0 || i === samples.length - 1)) {
    console.log(`${String(s.seconds).padStart(8)} ${mb(s.rss).padStart(10)} ${mb(s.heapUsed).padStart(10)} ${mb(s.external).padStart(10)} ${String(s.fds).padStart(5)} ${String(s.openConnections).padStart(5)}`);
  }
  console.log(`\nsecond half (${half.length} samples): heapUsed slope ${(heapSlope / 1024).toFixed(1)} KiB/min, RSS slope ${(rssSlope / 1024).toFixed(1)} KiB/min, RSS growth ${(rssGrowth * 100).toFixed(1)} %`);
  console.log(`fds ${baselineFds} before, ${finalFds} after; credential reloads ${reloads}`);
  console.log(failures.length === 0 ? 'soak: PASS' : `soak: FAIL\n  ${failures.join('\n  ')}`);

  await mkdir(path.dirname(OUT), { recursive: true });
  await writeFile(OUT, JSON.stringify({
    minutes: MINUTES, sampleSeconds: SAMPLE_SECONDS, pass: failures.length === 0, failures,
    secondHalf: { samples: half.length, heapUsedSlopeBytesPerMin: heapSlope, rssSlopeBytesPerMin: rssSlope, rssGrowth },
    limits: { heapUsedSlopeBytesPerMin: HEAP_SLOPE_LIMIT, rssGrowth: RSS_GROWTH_LIMIT },
    fds: { before: baselineFds, after: finalFds }, reloads, operations: stats, tunnels: totals, samples,
  }, null, 2));
  console.log(`wrote ${OUT}`);
  clearTimeout(watchdog);
  return failures.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error('soak:', e);
  process.exit(2);
});
