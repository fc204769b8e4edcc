/**
 * A thousand connections open at once through one tunnel, each sending its own seeded 64–256 KiB
 * to an mTLS sink (in a process of its own) that hashes what arrives: not one byte differs, and
 * once they close the tunnel holds nothing: no connection, no socket, no descriptor, no timer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { tunnelConfig } from '../support/tunnels';
import { connectLocal, readToEnd, settled, startTunnel, tunnelPort, until, within } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';
import { backToBaseline, ensureFileLimit, inWaves, prng, resourceLevel, SeededBytes } from './kit';
import type { SinkStats } from './sinkProcess';

const N = 1000;
const WARMUP = 20;
const KiB = 1024;
/** Descriptors per connection in this process (local client, accepted socket, upstream) plus room. */
const FILES_NEEDED = N * 3 + 512;

interface SinkProcess {
  port: number;
  stats(): Promise<SinkStats>;
  stop(): Promise<void>;
}

async function startSinkProcess(pki: ThrowawayPki): Promise<SinkProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'sinkProcess.ts'), pki.server.cert, pki.server.key, pki.ca], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = <T>(key: string, what: string) => within(new Promise<T>((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      child.off('message', onMessage);
      resolve(m[key] as T);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`the sink process exited (${code}) before ${what}`)));
  }), 15_000, what);
  const port = await next<number>('port', 'it listened');
  return {
    port,
    stats: () => {
      const reply = next<SinkStats>('stats', 'its stats');
      child.send('stats');
      return reply;
    },
    stop: async () => {
      if (child.exitCode === null) child.send('exit');
      await within(exited, 5000, 'the sink process to exit').catch(() => child.kill('SIGKILL'));
    },
  };
}

/** Sends `size` seeded bytes in 16 KiB writes, honouring backpressure; ends; returns their SHA-256. */
async function sendSeeded(socket: net.Socket, seed: string, size: number): Promise<string> {
  const source = new SeededBytes(seed);
  const hash = createHash('sha256');
  for (let sent = 0; sent < size;) {
    const chunk = source.next(Math.min(16 * KiB, size - sent));
    hash.update(chunk);
    sent += chunk.length;
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => { socket.off('close', onClose); resolve(); };
        const onClose = () => { socket.off('drain', onDrain); reject(new Error(`closed after ${sent} of ${size} bytes`)); };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      });
    }
  }
  socket.end();
  return hash.digest('hex');
}

describe('load', () => {
  const pki = withPki();
  let sink: SinkProcess;

  before(async () => {
    // Before the sink starts, so it inherits a raised limit too.
    ensureFileLimit(FILES_NEEDED);
    sink = await startSinkProcess(pki());
  });
  after(async () => {
    await sink?.stop();
  });

  test(`${N} concurrent connections with seeded data: every hash matches at the far end, and nothing leaks`, { timeout: 120_000 }, async (t) => {
    const tunnel = await startTunnel(t, tunnelConfig(pki(), sink.port, { name: 'load', connectTimeoutMs: 60_000 }));
    const port = tunnelPort(tunnel);

    // Warm up (TLS contexts, session cache, lazy modules), then measure what an idle tunnel holds.
    for (let i = 0; i < WARMUP; i++) {
      const c = await connectLocal(undefined, port);
      const reply = readToEnd(c, 10_000);
      const sha = await sendSeeded(c, `warmup-${i}`, 4 * KiB);
      assert.equal((await reply).data!.toString(), `${4 * KiB} ${sha}\n`);
    }
    await until(() => tunnel.snapshot().openConnections === 0, 5000, 'the warm-up connections to close');
    // Closed connections release their descriptors a little later: measure once that count holds still.
    await settled(() => resourceLevel().fds, 200, 5000, 'the open file count');
    const baseline = resourceLevel();
    const began = Date.now();

    // All of them open at once: the tunnel holds N client sockets and N upstream TLS sessions.
    const clients = await inWaves(N, 100, () => connectLocal(t, port));
    await until(() => tunnel.snapshot().handshakesOk >= WARMUP + N, 60_000, `${N} upstream handshakes`);
    assert.equal(tunnel.snapshot().openConnections, N, 'all connections open at the same time');
    assert.equal((await sink.stats()).open, N, 'the sink holds all of them at once');
    const opened = Date.now();

    // Each sends its own seeded data; the sink answers with the count and hash of what it got.
    const sizes = clients.map((_, i) => 64 * KiB + Math.floor(prng(i + 1)() * 192 * KiB));
    const outcomes = await Promise.all(clients.map(async (c, i) => {
      const reply = readToEnd(c, 90_000);
      try {
        const sha = await sendSeeded(c, `load-${i}`, sizes[i]);
        const got = (await reply).data!.toString();
        return got === `${sizes[i]} ${sha}\n` ? undefined : `#${i}: sent ${sizes[i]} bytes with sha256 ${sha}, the sink says ${got.trim()}`;
      } catch (e) {
        return `#${i}: ${(e as Error).message}`;
      }
    }));
    const transferred = Date.now();
    const mismatches = outcomes.filter((o) => o !== undefined);
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} of ${N} connections failed`);

    // Everything is released: in the tunnel, at the far end, and in this process.
    await until(() => tunnel.snapshot().openConnections === 0, 10_000, 'the tunnel to close every connection');
    await until(async () => (await sink.stats()).open === 0, 10_000, 'the sink to let go of every connection');
    const now = await backToBaseline(baseline, 10_000);
    const total = sizes.reduce((a, b) => a + b, 0);
    const s = tunnel.snapshot();
    assert.equal(s.totalConnections, WARMUP + N);
    assert.equal(s.handshakesOk, WARMUP + N);
    assert.deepEqual(s.handshakesFailed, {});
    assert.equal(s.bytesUp, total + WARMUP * 4 * KiB);
    assert.equal(s.lastDiagnosis, undefined, 'nothing went wrong');
    t.diagnostic(`${N} connections, ${(total / 1024 / 1024).toFixed(0)} MiB: opened in ${opened - began} ms, transferred in ${transferred - opened} ms; ` +
      `fds ${baseline.fds} → ${now.fds}, peak at the sink ${(await sink.stats()).peak}`);
  });
});
