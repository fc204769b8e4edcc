/**
 * Real clients against real servers, through both bridges in one run: `redis-benchmark` against
 * Debian's redis-server and `pgbench` against Debian's PostgreSQL, each server demanding a client
 * certificate from the throwaway CA (the test suite's own server modules, test/support/servers).
 *
 * One `mtls-tunnels up` process with two tunnels (redis: tls, pg: postgres) and one stunnel with two
 * services (redis plain TLS; pg with `protocol = pgsql`, stunnel's SSLRequest preamble) are started
 * next to the echo benchmark's bridges; every run is bounded (`timeout` per client command) and on
 * 127.0.0.1. Clients speak plain TCP to the bridge (`sslmode=disable` for pgbench).
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { binary, clientEnv, requireBinary, run, startPostgres, startRedis } from '../test/support/servers';
import type { RunningPostgres, RunningRedis } from '../test/support/servers';
import type { ThrowawayPki } from '../src/core/pki/testPki';
import { freePort, start, Started, stop, waitForPort } from './procs';

export interface RealClientOptions {
  dir: string;
  pki: ThrowawayPki;
  cli: string;
  reps: number;
  quick: boolean;
  /** Groups to run: `redis`, `pg` (both when absent). */
  only?: Set<string>;
}

/** Keys recorded per contender (`mtls-tunnels`, `stunnel`), one sample per repetition. */
export const REAL_CLIENT_ROWS = [
  { key: 'redisGetC1', label: 'redis-benchmark -t get -c 1', group: 'redis' },
  { key: 'redisGetC50P16', label: 'redis-benchmark -t get -c 50 -P 16', group: 'redis' },
  { key: 'pgbenchS', label: 'pgbench -S -c 8 -j 2 (persistent connections)', group: 'pg' },
  { key: 'pgbenchSC', label: 'pgbench -S -C -c 4 -j 2 (a new connection per transaction)', group: 'pg' },
] as const;

type Record_ = (contender: string, key: string, value: number) => void;

interface Bridge {
  name: string;
  started?: Started;
  redisPort: number;
  pgPort: number;
}

export async function runRealClients(o: RealClientOptions, record: Record_, say: (s: string) => void): Promise<void> {
  const want = (g: string) => !o.only || o.only.has(g);
  const missingRedis = want('redis') && requireBinary('redis-server', 'redis-benchmark');
  const missingPg = want('pg') && requireBinary('initdb', 'postgres', 'pgbench');
  if (missingRedis) say(`real clients: skipping redis-benchmark (${missingRedis})`);
  if (missingPg) say(`real clients: skipping pgbench (${missingPg})`);
  const doRedis = want('redis') && !missingRedis;
  const doPg = want('pg') && !missingPg;
  if (!doRedis && !doPg) return;

  let redis: RunningRedis | undefined;
  let pg: RunningPostgres | undefined;
  const bridges: Bridge[] = [];
  try {
    say('real clients: starting redis-server and PostgreSQL (TLS, client certificates required)');
    if (doRedis) redis = await startRedis({ pki: o.pki });
    if (doPg) pg = await startPostgres({ pki: o.pki, startTimeoutMs: 120_000 });
    bridges.push(await startProject(o, redis, pg), await startStunnel(o, redis, pg));
    if (pg) await pgbenchInit(bridges[0].pgPort);

    const timeout = o.quick ? 60 : 180;
    const redisN = { c1: o.quick ? 5_000 : 40_000, c50: o.quick ? 100_000 : 1_000_000 };
    const pgSeconds = o.quick ? 3 : 10;
    // Warm-up through each bridge (and the servers past pgbench -i's vacuum), not recorded, so that
    // whichever bridge goes first does not pay for a cold server.
    for (const b of bridges) {
      if (redis) await redisBenchmark(b.redisPort, ['-c', '10', '-n', '2000'], timeout);
      if (pg) await pgbench(b.pgPort, ['-S', '-c', '2', '-T', '1'], timeout);
    }
    for (let rep = 0; rep < o.reps; rep++) {
      const order = rep % 2 === 0 ? bridges : [...bridges].reverse();
      say(`real clients ${rep + 1}/${o.reps}: ${order.map((b) => b.name).join(', ')}`);
      for (const b of order) {
        if (redis) {
          record(b.name, 'redisGetC1', await redisBenchmark(b.redisPort, ['-c', '1', '-n', String(redisN.c1)], timeout));
          record(b.name, 'redisGetC50P16', await redisBenchmark(b.redisPort, ['-c', '50', '-P', '16', '-n', String(redisN.c50)], timeout));
        }
        if (pg) {
          record(b.name, 'pgbenchS', await pgbench(b.pgPort, ['-S', '-c', '8', '-j', '2', '-T', String(pgSeconds)], timeout));
          record(b.name, 'pgbenchSC', await pgbench(b.pgPort, ['-S', '-C', '-c', '4', '-j', '2', '-T', String(pgSeconds)], timeout));
        }
      }
    }
  } finally {
    for (const b of bridges) if (b.started) await stop(b.started.child);
    await redis?.stop();
    await pg?.stop();
  }
}

async function startProject(o: RealClientOptions, redis?: RunningRedis, pg?: RunningPostgres): Promise<Bridge> {
  const b: Bridge = { name: 'mtls-tunnels', redisPort: await freePort(), pgPort: await freePort() };
  const common = {
    serverName: 'localhost', cert: o.pki.client.cert, key: o.pki.client.key, ca: o.pki.ca,
    // As run.ts: MTLS_BENCH_ALLOW_OTHER_USERS=1 measures these rows without the same-user check.
    ...(process.env.MTLS_BENCH_ALLOW_OTHER_USERS ? { allowOtherUsers: true } : {}),
  };
  const tunnels = [
    ...(redis ? [{ name: 'redis', protocol: 'tls', listen: b.redisPort, target: `127.0.0.1:${redis.port}`, ...common }] : []),
    ...(pg ? [{ name: 'pg', protocol: 'postgres', listen: b.pgPort, target: `127.0.0.1:${pg.port}`, ...common }] : []),
  ];
  const config = path.join(o.dir, 'real-tunnels.json');
  writeFileSync(config, JSON.stringify({ tunnels }, null, 2));
  b.started = start(process.execPath, [o.cli, 'up', '--config', config], path.join(o.dir, 'real-mtls-tunnels.log'));
  await waitAll(b, redis, pg, 'real-mtls-tunnels.log');
  return b;
}

async function startStunnel(o: RealClientOptions, redis?: RunningRedis, pg?: RunningPostgres): Promise<Bridge> {
  const b: Bridge = { name: 'stunnel', redisPort: await freePort(), pgPort: await freePort() };
  const service = (name: string, listen: number, port: number, extra: string[]) => [
    `[${name}]`, 'client = yes', `accept = 127.0.0.1:${listen}`, `connect = 127.0.0.1:${port}`,
    `cert = ${o.pki.client.cert}`, `key = ${o.pki.client.key}`, `CAfile = ${o.pki.ca}`,
    'verifyChain = yes', 'checkHost = localhost', 'sni = localhost',
    'socket = l:TCP_NODELAY=1', 'socket = r:TCP_NODELAY=1', ...extra,
  ];
  const conf = path.join(o.dir, 'real-stunnel.conf');
  writeFileSync(conf, [
    // As in run.ts: log to our file only, not to syslog (which falls back to /dev/console).
    'foreground = yes', 'pid =', 'syslog = no',
    ...(redis ? service('redis', b.redisPort, redis.port, []) : []),
    ...(pg ? service('pg', b.pgPort, pg.port, ['protocol = pgsql']) : []),
    '',
  ].join('\n'));
  b.started = start('stunnel', [conf], path.join(o.dir, 'real-stunnel.log'));
  await waitAll(b, redis, pg, 'real-stunnel.log');
  return b;
}

async function waitAll(b: Bridge, redis: RunningRedis | undefined, pg: RunningPostgres | undefined, log: string): Promise<void> {
  try {
    if (redis) await waitForPort(b.redisPort, b.started!.child, 15_000);
    if (pg) await waitForPort(b.pgPort, b.started!.child, 15_000);
  } catch (e) {
    throw new Error(`${b.name} (real clients): ${(e as Error).message}; see ${log}`);
  }
}

function pgEnv(): NodeJS.ProcessEnv {
  return { ...clientEnv(), PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '15' };
}

async function pgbenchInit(port: number): Promise<void> {
  const r = await run(binary('pgbench'), ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'alice', 'staging'], { env: pgEnv(), timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`pgbench -i failed (${r.code ?? r.signal}): ${r.stderr.slice(-500)}`);
}

/** Transactions per second from `pgbench … -T s` through a bridge. */
async function pgbench(port: number, args: string[], timeoutS: number): Promise<number> {
  const r = await run(binary('pgbench'), [...args, '-n', '-h', '127.0.0.1', '-p', String(port), '-U', 'alice', 'staging'], { env: pgEnv(), timeoutMs: timeoutS * 1000 });
  const m = /^tps = ([\d.]+)/m.exec(r.out);
  if (r.code !== 0 || !m) throw new Error(`pgbench ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.slice(-500)}${r.out.slice(-300)}`);
  return Number(m[1]);
}

/** GET requests per second from `redis-benchmark -t get … --csv` through a bridge. */
async function redisBenchmark(port: number, args: string[], timeoutS: number): Promise<number> {
  const r = await run(binary('redis-benchmark'), ['-h', '127.0.0.1', '-p', String(port), '-t', 'get', '--csv', ...args], { env: clientEnv(), timeoutMs: timeoutS * 1000 });
  const m = /^"GET","([\d.]+)"/m.exec(r.out);
  if (r.code !== 0 || !m) throw new Error(`redis-benchmark ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.slice(-500)}${r.out.slice(-300)}`);
  return Number(m[1]);
}
