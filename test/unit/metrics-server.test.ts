/**
 * The metrics and health server of `up --metrics`, on a real TunnelManager with real tunnels to a
 * real mTLS server, scraped over real HTTP: counters move with traffic (scraped while a
 * connection is open, then after), handshake failures are counted by code, the expiry is the
 * certificate's, /healthz turns 503 with a reason when the identity becomes invalid or the
 * tunnel stops, /readyz?check=1 runs the doctor per target and reuses its answer a few seconds.
 * No payload, key or passphrase appears in any answer.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetricsServer, doctorCheck, metricsEndpoint, startMetricsServer } from '../../src/cli/metricsServer';
import { TunnelConfig } from '../../src/core/config/model';
import { TunnelManager } from '../../src/core/manager';
import { MtlsServer, startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { unusedPort } from '../support/ports';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();
let server: MtlsServer;
let dir: string;

before(async () => {
  server = await startMtlsServer(await pki.ready());
  dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-metrics-'));
});
after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function get(m: MetricsServer, urlPath: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${m.address.port}${urlPath}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/** `name{labels} value` lines as a map from `name{labels}` to the value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

async function scrape(m: MetricsServer): Promise<Map<string, number>> {
  const r = await get(m, '/metrics');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8');
  return samples(r.body);
}

async function running(configs: TunnelConfig[], watchCredentials = false): Promise<{ manager: TunnelManager; metrics: MetricsServer; dispose(): Promise<void> }> {
  const manager = new TunnelManager({ watchCredentials, drainTimeoutMs: 500 });
  manager.apply(configs);
  const metrics = await startMetricsServer(manager, configs.map((c) => c.name), { host: '127.0.0.1', port: 0 }, { readinessCacheMs: 60_000 });
  await manager.startAll().then((failures) => assert.equal(failures.size, 0, [...failures.values()].map((e) => e.message).join('\n')));
  return { manager, metrics, dispose: async () => { await manager.dispose(); await metrics.close(); } };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

describe('up --metrics: /metrics', () => {
  it('counts connections and bytes as they move, scraped while a connection is open and after it closed', async () => {
    const { manager, metrics, dispose } = await running([tunnelConfig(pki(), server.port, { name: 'echo' })]);
    try {
      const before = await scrape(metrics);
      assert.equal(before.get('mtls_tunnel_up{tunnel="echo"}'), 1);
      assert.equal(before.get('mtls_tunnel_connections_total{tunnel="echo"}'), 0);
      assert.equal(before.get('mtls_tunnel_connect_duration_seconds_count{tunnel="echo"}'), 0);

      const tunnel = manager.tunnel('echo')!;
      const socket = await connect(manager.entry('echo')!.address.port!);
      const opened = once(tunnel, 'connectionOpened');
      const marker = 'PAYLOAD-MARKER-' + Math.random().toString(36).slice(2);
      const chunk = Buffer.alloc(100_000, marker);
      socket.write(chunk);
      await opened;
      let echoed = 0;
      socket.on('data', (d: Buffer) => (echoed += d.length));
      while (echoed < chunk.length) await once(socket, 'data');

      const during = await scrape(metrics);
      assert.equal(during.get('mtls_tunnel_open_connections{tunnel="echo"}'), 1);
      assert.equal(during.get('mtls_tunnel_connections_total{tunnel="echo"}'), 1);
      assert.equal(during.get('mtls_tunnel_bytes_total{tunnel="echo",direction="up"}'), chunk.length);
      assert.equal(during.get('mtls_tunnel_bytes_total{tunnel="echo",direction="down"}'), chunk.length);
      assert.equal(during.get('mtls_tunnel_connect_duration_seconds_count{tunnel="echo"}'), 1);
      assert.equal(during.get('mtls_tunnel_connect_duration_seconds_bucket{tunnel="echo",le="+Inf"}'), 1);
      assert.ok(during.get('mtls_tunnel_connect_duration_seconds_sum{tunnel="echo"}')! > 0);

      const closed = once(tunnel, 'connectionClosed');
      socket.write(chunk);
      socket.end();
      await closed;
      const afterwards = await scrape(metrics);
      assert.equal(afterwards.get('mtls_tunnel_open_connections{tunnel="echo"}'), 0);
      assert.equal(afterwards.get('mtls_tunnel_bytes_total{tunnel="echo",direction="up"}'), 2 * chunk.length);
      assert.equal(afterwards.get('mtls_tunnel_bytes_total{tunnel="echo",direction="down"}'), 2 * chunk.length);

      const leaf = new X509Certificate(await readFile(pki().client.cert));
      assert.equal(afterwards.get('mtls_tunnel_client_certificate_expiry_timestamp_seconds{tunnel="echo"}'), Math.floor(new Date(leaf.validTo).getTime() / 1000));
      assert.doesNotMatch((await get(metrics, '/metrics')).body, new RegExp(marker));
    } finally {
      await dispose();
    }
  });

  it('the expiry gauge covers a PKCS#12 identity too', async () => {
    const { writePkcs12 } = await import('../../src/core/pki/testPki');
    const pfx = await writePkcs12(path.join(dir, 'client.p12'), pki().rsaClient, 'p12-pass');
    process.env.MTLS_METRICS_P12 = 'p12-pass';
    const config = tunnelConfig(pki(), server.port, { name: 'bundle', cert: undefined, key: undefined, pfx, passphrase: '${env:MTLS_METRICS_P12}' });
    const { metrics, dispose } = await running([config]);
    try {
      const leaf = new X509Certificate(await readFile(pki().rsaClient.cert));
      const got = (await scrape(metrics)).get('mtls_tunnel_client_certificate_expiry_timestamp_seconds{tunnel="bundle"}');
      assert.equal(got, Math.floor(new Date(leaf.validTo).getTime() / 1000));
      assert.doesNotMatch((await get(metrics, '/metrics')).body, /p12-pass/);
    } finally {
      delete process.env.MTLS_METRICS_P12;
      await dispose();
    }
  });

  it('counts handshake failures by diagnosis code, per tunnel', async () => {
    const rogue = tunnelConfig(pki(), server.port, { name: 'rogue', cert: pki().rogueClient.cert, key: pki().rogueClient.key });
    const { manager, metrics, dispose } = await running([rogue, tunnelConfig(pki(), server.port, { name: 'good' })]);
    try {
      const closed = once(manager.tunnel('rogue')!, 'connectionClosed');
      const socket = await connect(manager.entry('rogue')!.address.port!);
      socket.on('error', () => undefined);
      socket.write('hello');
      const [, diagnosis] = (await closed) as [unknown, { code: string } | undefined];
      assert.ok(diagnosis, 'the refused connection has a diagnosis');
      const s = await scrape(metrics);
      assert.equal(s.get(`mtls_tunnel_handshake_failures_total{tunnel="rogue",code="${diagnosis.code}"}`), 1);
      assert.equal([...s.keys()].filter((k) => k.startsWith('mtls_tunnel_handshake_failures_total{tunnel="good"')).length, 0);
    } finally {
      await dispose();
    }
  });

  it('keeps counting up across a restart of the tunnel (a new Tunnel object)', async () => {
    const { manager, metrics, dispose } = await running([tunnelConfig(pki(), server.port, { name: 'echo' })]);
    try {
      for (let round = 0; round < 2; round++) {
        const closed = once(manager.tunnel('echo')!, 'connectionClosed');
        const socket = await connect(manager.entry('echo')!.address.port!);
        socket.end('x');
        socket.resume();
        await closed;
        if (round === 0) await manager.restart('echo');
      }
      const s = await scrape(metrics);
      assert.equal(s.get('mtls_tunnel_connections_total{tunnel="echo"}'), 2);
      assert.equal(s.get('mtls_tunnel_bytes_total{tunnel="echo",direction="up"}'), 2);
      assert.equal(s.get('mtls_tunnel_connect_duration_seconds_count{tunnel="echo"}'), 2);
    } finally {
      await dispose();
    }
  });
});

describe('up --metrics: /healthz and /readyz', () => {
  it('/healthz is 200 while the tunnel listens with a valid identity, 503 naming it once the reloaded certificate has expired', async () => {
    const cert = path.join(dir, 'swap.crt');
    const key = path.join(dir, 'swap.key');
    await copyFile(pki().client.cert, cert);
    await copyFile(pki().client.key, key);
    const { manager, metrics, dispose } = await running([tunnelConfig(pki(), server.port, { name: 'db', cert, key })]);
    try {
      assert.deepEqual(await get(metrics, '/healthz'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' });
      await copyFile(pki().clientExpired.cert, cert);
      await copyFile(pki().clientExpired.key, key);
      assert.equal(await manager.tunnel('db')!.reloadCredentials(), true);
      const health = await get(metrics, '/healthz');
      assert.equal(health.status, 503);
      assert.match(health.body, /^db: your client certificate expired on \d{4}-\d{2}-\d{2}; servers will refuse it\.\n$/);
      assert.equal(manager.entry('db')!.state, 'running', 'the tunnel itself keeps running');
      const readyz = await get(metrics, '/readyz');
      assert.equal(readyz.status, 503, 'readiness without check=1 is health');
    } finally {
      await dispose();
    }
  });

  it('/healthz is 503 with one line per reason when a tunnel is stopped, and names only that tunnel', async () => {
    const { manager, metrics, dispose } = await running([tunnelConfig(pki(), server.port, { name: 'a' }), tunnelConfig(pki(), server.port, { name: 'b' })]);
    try {
      await manager.stop('b');
      const health = await get(metrics, '/healthz');
      assert.equal(health.status, 503);
      assert.equal(health.body, 'b: not listening (stopped)\n');
      assert.equal((await scrape(metrics)).get('mtls_tunnel_up{tunnel="b"}'), 0);
    } finally {
      await dispose();
    }
  });

  it('/readyz?check=1 runs the doctor to each target, says which one fails, and reuses its answer', async () => {
    const down = await unusedPort();
    let checks = 0;
    const configs = [tunnelConfig(pki(), server.port, { name: 'up' }), tunnelConfig(pki(), down, { name: 'down' })];
    const manager = new TunnelManager({ watchCredentials: false });
    manager.apply(configs);
    const metrics = await startMetricsServer(manager, ['up', 'down'], { host: '127.0.0.1', port: 0 }, {
      check: (c) => (checks++, doctorCheck(c)),
      readinessCacheMs: 60_000,
    });
    try {
      await manager.startAll();
      assert.equal((await get(metrics, '/healthz')).status, 200, 'both listen: healthy, though one target is down');
      const [first, second] = await Promise.all([get(metrics, '/readyz?check=1'), get(metrics, '/readyz?check=1')]);
      assert.equal(first.status, 503);
      assert.match(first.body, /^down: .*(refused|not reachable|nothing listens|connect)/im);
      assert.doesNotMatch(first.body, /^up:/m);
      assert.deepEqual(second, first);
      const third = await get(metrics, '/readyz?check=1');
      assert.deepEqual(third, first);
      assert.equal(checks, 2, 'one doctor run per tunnel for all three requests');
    } finally {
      await manager.dispose();
      await metrics.close();
    }
  });

  it('/readyz?check=1 with two targets, one down: 503 naming that target', async () => {
    const down = await unusedPort();
    const config = tunnelConfig(pki(), server.port, { name: 'pair', target: [`127.0.0.1:${server.port}`, `127.0.0.1:${down}`] });
    const { metrics, dispose } = await running([config]);
    try {
      const ready = await get(metrics, '/readyz?check=1');
      assert.equal(ready.status, 503);
      assert.match(ready.body, new RegExp(`^pair: target 127\\.0\\.0\\.1:${down}: nothing is listening`, 'm'));
      assert.ok(!ready.body.includes(`target 127.0.0.1:${server.port}`), ready.body);
    } finally {
      await dispose();
    }
  });

  it('no passphrase or key material in any answer', async () => {
    const passphrase = 'pass-' + Math.random().toString(36).slice(2);
    const keyPem = await readFile(pki().client.key, 'utf8');
    const encrypted = createPrivateKey(keyPem).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }) as string;
    const key = path.join(dir, 'encrypted.key');
    await writeFile(key, encrypted, { mode: 0o600 });
    process.env.MTLS_METRICS_TEST_PASSPHRASE = passphrase;
    const config = tunnelConfig(pki(), server.port, { name: 'secret', key, passphrase: '${env:MTLS_METRICS_TEST_PASSPHRASE}' });
    delete process.env.MTLS_METRICS_TEST_PASSPHRASE;
    const { metrics, dispose } = await running([config]);
    try {
      const bodies = await Promise.all(['/metrics', '/healthz', '/readyz?check=1'].map(async (p) => (await get(metrics, p)).body));
      const keyBody = keyPem.split('\n')[1];
      for (const body of bodies) {
        assert.ok(!body.includes(passphrase), body);
        assert.ok(!body.includes(keyBody) && !body.includes(encrypted.split('\n')[1]), body);
      }
      assert.match(bodies[0], /mtls_tunnel_up\{tunnel="secret"\} 1/);
    } finally {
      await dispose();
    }
  });
});

describe('--metrics HOST:PORT', () => {
  it('is loopback only unless --unsafe-metrics, with a sentence that says why', () => {
    assert.deepEqual(metricsEndpoint('127.0.0.1:9102', false), { host: '127.0.0.1', port: 9102 });
    assert.deepEqual(metricsEndpoint('[::1]:9102', false), { host: '::1', port: 9102 });
    const refused = metricsEndpoint('0.0.0.0:9102', false);
    assert.equal(typeof refused, 'string');
    assert.match(refused as string, /0\.0\.0\.0 is not a loopback address.*--unsafe-metrics/);
    assert.deepEqual(metricsEndpoint('0.0.0.0:9102', true), { host: '0.0.0.0', port: 9102 });
    assert.match(metricsEndpoint('9102', false) as string, /not "host:port"/);
  });
});
