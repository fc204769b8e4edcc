/**
 * `mtls-tunnels up --metrics` through the built CLI (`npm run build` first): the flag as a user
 * types it, the refusal of a non-loopback address, a scrape during real traffic, and /healthz
 * turning 503 when the certificate files are replaced by an expired pair and the running tunnel
 * reloads them by itself.
 */
import assert from 'node:assert/strict';
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { withCliWorkspace } from '../support/cliWorkspace';

const CLI = process.env.MTLS_TUNNELS_CLI ?? path.join(__dirname, '..', '..', 'dist', 'cli.js');
const fixture = withCliWorkspace('mtls-cli-metrics');
const pki = fixture.pki;

interface Up {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function up(args: string[]): Up {
  const child = spawn(process.execPath, [CLI, 'up', ...args], { cwd: fixture.dir() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  void exited.then(() => clearTimeout(timer));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Resolves once `read()` matches, waiting for output events (or fails when the process ends first). */
async function waitFor(u: Up, read: () => string, pattern: RegExp): Promise<RegExpExecArray> {
  let ended = false;
  void u.exited.then(() => (ended = true));
  for (;;) {
    const m = pattern.exec(read());
    if (m) return m;
    if (ended) throw new Error(`up ended before ${pattern}\nstdout:\n${u.stdout()}\nstderr:\n${u.stderr()}`);
    await Promise.race([once(u.child.stdout), once(u.child.stderr), u.exited]);
  }
}
const once = (s: NodeJS.ReadableStream) => new Promise((resolve) => s.once('data', resolve));

async function started(u: Up): Promise<{ metricsPort: number; tunnelPort: number }> {
  const metrics = await waitFor(u, u.stdout, /^metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/m);
  const listening = /^echo listening on 127\.0\.0\.1:(\d+) /m.exec(u.stdout());
  assert.ok(listening, u.stdout());
  return { metricsPort: Number(metrics[1]), tunnelPort: Number(listening[1]) };
}

const value = (text: string, sample: string) => Number(new RegExp(`^${sample.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1]);

describe('mtls-tunnels up --metrics', () => {
  it('serves counters that move with real traffic, and drains on SIGTERM with exit 0', async () => {
    const u = up(['--config', await fixture.configFile([fixture.tunnel()]), '--metrics', '127.0.0.1:0']);
    try {
      const { metricsPort, tunnelPort } = await started(u);
      const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.equal(value(await scrape(), 'mtls_tunnel_connections_total{tunnel="echo"}'), 0);

      const socket = net.connect(tunnelPort, '127.0.0.1');
      const payload = Buffer.alloc(64 * 1024, 'x');
      let echoed = 0;
      const allBack = new Promise<void>((resolve) => socket.on('data', (d: Buffer) => (echoed += d.length) >= payload.length && resolve()));
      socket.write(payload);
      await allBack;
      const during = await scrape();
      assert.equal(value(during, 'mtls_tunnel_open_connections{tunnel="echo"}'), 1);
      assert.equal(value(during, 'mtls_tunnel_connections_total{tunnel="echo"}'), 1);
      assert.equal(value(during, 'mtls_tunnel_bytes_total{tunnel="echo",direction="up"}'), payload.length);
      assert.equal(value(during, 'mtls_tunnel_bytes_total{tunnel="echo",direction="down"}'), payload.length);
      assert.equal(value(during, 'mtls_tunnel_connect_duration_seconds_count{tunnel="echo"}'), 1);
      assert.match(during, /^# TYPE mtls_tunnel_connect_duration_seconds histogram$/m);
      socket.destroy();

      const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      u.child.kill('SIGTERM');
    }
    assert.equal(await u.exited, 0, u.stderr());
  });

  it('/healthz turns 503 once the certificate files are replaced by an expired pair and reloaded', async () => {
    const cert = path.join(fixture.dir(), 'renewed.crt');
    const key = path.join(fixture.dir(), 'renewed.key');
    await copyFile(pki().client.cert, cert);
    await copyFile(pki().client.key, key);
    const u = up(['--config', await fixture.configFile([fixture.tunnel({ cert, key })]), '--metrics', '127.0.0.1:0']);
    try {
      const { metricsPort } = await started(u);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status, 200);
      const reloadsBefore = (u.stderr().match(/credentials reloaded/g) ?? []).length;
      await copyFile(pki().clientExpired.key, key);
      await copyFile(pki().clientExpired.cert, cert);
      // The tunnel's own watcher reloads them; its log line is the event to wait for.
      await waitFor(u, u.stderr, new RegExp(`(credentials reloaded.*){${reloadsBefore + 1}}`, 's'));
      const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      assert.equal(health.status, 503);
      assert.match(await health.text(), /^echo: your client certificate expired on /);
    } finally {
      u.child.kill('SIGTERM');
    }
    assert.equal(await u.exited, 0, u.stderr());
  });

  it('refuses a non-loopback address without --unsafe-metrics (exit 2, nothing listens)', async () => {
    const u = up(['--config', await fixture.configFile([fixture.tunnel()]), '--metrics', '0.0.0.0:0']);
    assert.equal(await u.exited, 2);
    assert.match(u.stderr(), /--metrics 0\.0\.0\.0:0: 0\.0\.0\.0 is not a loopback address.*add --unsafe-metrics if you really mean it/);
    assert.equal(u.stdout(), '');
  });

  it('serves on a non-loopback address with --unsafe-metrics', async () => {
    const u = up(['--config', await fixture.configFile([fixture.tunnel()]), '--metrics', '0.0.0.0:0', '--unsafe-metrics']);
    try {
      const m = await waitFor(u, u.stdout, /^metrics on http:\/\/0\.0\.0\.0:(\d+)\/metrics/m);
      assert.equal((await fetch(`http://127.0.0.1:${m[1]}/healthz`)).status, 200);
    } finally {
      u.child.kill('SIGTERM');
    }
    assert.equal(await u.exited, 0, u.stderr());
  });

  it('a taken metrics port fails the start (exit 1) before any tunnel listens', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const port = (holder.address() as net.AddressInfo).port;
      const u = up(['--config', await fixture.configFile([fixture.tunnel()]), '--metrics', `127.0.0.1:${port}`]);
      assert.equal(await u.exited, 1);
      assert.match(u.stderr(), new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
      assert.doesNotMatch(u.stdout(), /listening on/);
    } finally {
      holder.close();
    }
  });
});
