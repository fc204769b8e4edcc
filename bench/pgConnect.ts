/**
 * `pgbench -C` (a new connection per transaction) through the tunnel and through stunnel against
 * a real PostgreSQL that demands client certificates, with pgbench's own "average connection
 * time", at one client and at four, and through a tunnel with `warmConnections: 2`: where the
 * time of a new PostgreSQL connection goes, and what moves it (bench/README.md, "pgbench -C").
 * The same-user check is off on the tunnels, so that only the connection path is measured.
 *
 *   node --import tsx bench/pgConnect.ts [--seconds 4] [--reps 2]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createThrowawayPki } from '../src/core/pki/testPki';
import { binary, clientEnv, run, startPostgres } from '../test/support/servers';
import { freePort, start, stop, waitForPort } from './procs';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : fallback);
const ROOT = path.resolve(__dirname, '..');

async function main(): Promise<void> {
  const seconds = opt('seconds', 4);
  const reps = opt('reps', 2);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mtls-pgconnect-'));
  const pki = await createThrowawayPki(path.join(dir, 'pki'));
  const pg = await startPostgres({ pki, startTimeoutMs: 120_000 });
  const [plain, warm, rival] = [await freePort(), await freePort(), await freePort()];
  const tunnel = (name: string, listen: number, extra: Record<string, unknown>) => ({
    name, protocol: 'postgres', listen, target: `127.0.0.1:${pg.port}`, serverName: 'localhost',
    cert: pki.client.cert, key: pki.client.key, ca: pki.ca, allowOtherUsers: true, ...extra,
  });
  writeFileSync(path.join(dir, 'tunnels.json'), JSON.stringify({ tunnels: [tunnel('pg', plain, {}), tunnel('pg-warm', warm, { warmConnections: 2 })] }));
  const cli = start(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'up', '--config', path.join(dir, 'tunnels.json')], path.join(dir, 'cli.log'));
  writeFileSync(path.join(dir, 'stunnel.conf'), ['foreground = yes', 'pid =', 'syslog = no', '[pg]', 'client = yes', `accept = 127.0.0.1:${rival}`,
    `connect = 127.0.0.1:${pg.port}`, `cert = ${pki.client.cert}`, `key = ${pki.client.key}`, `CAfile = ${pki.ca}`, 'verifyChain = yes',
    'checkHost = localhost', 'sni = localhost', 'socket = l:TCP_NODELAY=1', 'socket = r:TCP_NODELAY=1', 'protocol = pgsql', ''].join('\n'));
  const stunnel = start('stunnel', [path.join(dir, 'stunnel.conf')], path.join(dir, 'stunnel.log'));
  try {
    for (const p of [plain, warm]) await waitForPort(p, cli.child, 15_000);
    await waitForPort(rival, stunnel.child, 15_000);
    const env = { ...clientEnv(), PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '15' };
    const target = ['-h', '127.0.0.1', '-U', 'alice', 'staging'];
    await run(binary('pgbench'), ['-i', '-s', '1', '-q', '-p', String(plain), ...target], { env, timeoutMs: 120_000 });
    const load0 = os.loadavg()[0].toFixed(2);
    process.stdout.write('| clients | bridge | tps | average connection time (ms) | latency average (ms) |\n|---:|---|---:|---:|---:|\n');
    for (const clients of [1, 4]) {
      for (let rep = 0; rep < reps; rep++) {
        for (const [name, port] of [['mtls-tunnels', plain], ['stunnel', rival], ['mtls-tunnels warmConnections=2', warm]] as const) {
          const r = await run(binary('pgbench'), ['-S', '-C', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-n', '-p', String(port), ...target], { env, timeoutMs: 120_000 });
          const num = (re: RegExp) => re.exec(r.out)?.[1] ?? '–';
          process.stdout.write(`| ${clients} | ${name} | ${num(/^tps = ([\d.]+)/m)} | ${num(/^average connection time = ([\d.]+)/m)} | ${num(/^latency average = ([\d.]+)/m)} |\n`);
        }
      }
    }
    process.stdout.write(`\nload average ${load0} -> ${os.loadavg()[0].toFixed(2)}; PostgreSQL ${pg.port}, ${seconds} s per row\n`);
  } finally {
    await stop(cli.child);
    await stop(stunnel.child);
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

void main();
