/**
 * mTLS Tunnels vs stunnel: `npx tsx bench/run.ts [--quick] [--reps N] [--profile] [--only bulk,conn,ping,mem,redis,pg,editor] [--bulk-mb N]`.
 *
 * Sets up a throwaway PKI in a temp dir, starts a Node mTLS backend (bench/backend.ts) in its own
 * process, stunnel in client mode and `mtls-tunnels up` in their own processes, then runs every
 * metric for every contender in interleaved repetitions and prints medians and the ratio
 * mtls-tunnels/stunnel. Baselines: the load generator doing mTLS itself (direct-tls) and plain TCP
 * to the backend's plain twin (loopback limit). Writes bench/results/latest.json.
 * Then real clients through both bridges: redis-benchmark and pgbench against real Redis and
 * PostgreSQL that demand client certificates (bench/realClients.ts; `--only redis,pg`).
 * Last (full runs only, or `--only editor`), the editor burst in the real extension host
 * (`npm run bench:editor`, test/vscode/bench): its table is printed after the others, or a line
 * saying why it was skipped (it needs the VS Code server the tests install).
 * `--profile` instead runs bulk transfers once through the project's bridge under
 * `node --cpu-prof` and prints where its CPU goes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { createThrowawayPki, ThrowawayPki } from '../src/core/pki/testPki';
import { bulkDown, bulkUp, CLOSE_MODES, connRate, echoOnce, handshakeCounters, median, openIdle, pingPong, Target, withTimeout } from './load';
import { REAL_CLIENT_ROWS, runRealClients } from './realClients';
import { cpuSeconds, freePort, killAllNow, rssBytes, sleep, spawnPiped, start, Started, stop, stopAll, waitForPort } from './procs';

const ROOT = path.resolve(__dirname, '..');
const MB = 1024 * 1024;
/** How long after the 3 s "after close" reading the memory test looks once more. */
const LATE_MS = 20_000;

interface Options {
  quick: boolean;
  reps: number;
  profile: boolean;
  bulkBytes: number;
  connSeconds: number;
  maxConnsPerRun: number;
  pingRounds: number;
  idleConns: number;
  /** Metric groups to run (`--only bulk,conn,ping,mem,redis,pg`); all when absent. */
  only?: Set<string>;
  /** stunnel's `debug` level (`--stunnel-debug info`); its default (notice) when absent. */
  stunnelDebug?: string;
  /** Keep the temp dir (logs) instead of removing it (`--keep`). */
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const repsAt = argv.indexOf('--reps');
  const reps = repsAt >= 0 ? Number(argv[repsAt + 1]) : quick ? 3 : 5;
  if (!Number.isInteger(reps) || reps < 1 || reps > 50) throw new Error('--reps takes a whole number from 1 to 50');
  return {
    quick,
    reps,
    profile: argv.includes('--profile'),
    bulkBytes: (argv.includes('--bulk-mb') ? Number(argv[argv.indexOf('--bulk-mb') + 1]) : quick ? 32 : 256) * MB,
    connSeconds: quick ? 1.5 : 4,
    maxConnsPerRun: 5000,
    pingRounds: quick ? 500 : 2000,
    idleConns: 1000,
    only: argv.includes('--only') ? new Set(argv[argv.indexOf('--only') + 1].split(',')) : undefined,
    stunnelDebug: argv.includes('--stunnel-debug') ? argv[argv.indexOf('--stunnel-debug') + 1] : undefined,
    keep: argv.includes('--keep'),
  };
}

// ---------------------------------------------------------------------------------------------
// Contenders

interface Contender {
  name: string;
  /** A bridge is a separate process we can measure; a baseline is the load generator itself. */
  bridge: boolean;
  target: Target;
  pid?: number;
  /** An opt-in setting of the project measured on the new-connection rows only (a second table). */
  connOnly?: boolean;
  /** (Re)starts the bridge process; no-op for baselines. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

interface Env {
  dir: string;
  pki: ThrowawayPki;
  backendTls: number;
  backendPlain: number;
  backendPid: number;
  cli: { file: string; from: string };
  opts: Options;
}

function bridgeContender(name: string, launch: (port: number) => Started, log: string): Contender {
  let current: Started | undefined;
  const c: Contender = {
    name,
    bridge: true,
    target: { port: 0 },
    async restart() {
      if (current) await stop(current.child);
      const port = await freePort();
      current = launch(port);
      try {
        await waitForPort(port, current.child, 15_000);
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message}; see ${log}:\n${tail(log)}`);
      }
      c.target = { port };
      c.pid = current.pid;
    },
    async stop() {
      if (current) await stop(current.child);
      current = undefined;
    },
  };
  return c;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

/**
 * The project's CLI with the bench tunnel; `settings` adds fields to it (an opt-in contender,
 * named after them, runs only the new-connection rows).
 */
function projectContender(env: Env, extraNodeArgs: string[] = [], settings: Record<string, unknown> = {}): Contender {
  const optIn = Object.keys(settings).length > 0;
  const name = optIn ? `mtls-tunnels ${Object.entries(settings).map(([k, v]) => `${k}=${String(v)}`).join(' ')}` : 'mtls-tunnels';
  const log = path.join(env.dir, optIn ? `mtls-tunnels-${Object.values(settings).join('-')}.log` : 'mtls-tunnels.log');
  const contender = bridgeContender(name, (port) => {
    const config = path.join(env.dir, `tunnels-${port}.json`);
    writeFileSync(config, JSON.stringify({
      tunnels: [{
        name: 'bench', listen: port, target: `127.0.0.1:${env.backendTls}`, serverName: 'localhost',
        cert: env.pki.client.cert, key: env.pki.client.key, ca: env.pki.ca,
        ...(process.env.MTLS_BENCH_ALLOW_OTHER_USERS ? { allowOtherUsers: true } : {}),
        ...settings,
      }],
    }, null, 2));
    return start(process.execPath, [...extraNodeArgs, env.cli.file, 'up', '--config', config], log);
  }, log);
  contender.connOnly = optIn;
  return contender;
}

function stunnelContender(env: Env): Contender {
  const log = path.join(env.dir, 'stunnel.log');
  return bridgeContender('stunnel', (port) => {
    const conf = path.join(env.dir, `stunnel-${port}.conf`);
    writeFileSync(conf, [
      'foreground = yes',
      'pid =',
      // In the foreground stunnel logs to stderr (our log file) *and* to syslog; with no syslog
      // daemon glibc falls back to writing every line to /dev/console (LOG_CONS), synchronously,
      // 1.3-2 ms per line on this VM's serial console, about four lines per connection. The
      // project logs to a file only, so stunnel does too.
      'syslog = no',
      ...(env.opts.stunnelDebug ? [`debug = ${env.opts.stunnelDebug}`] : []),
      '[bench]',
      'client = yes',
      `accept = 127.0.0.1:${port}`,
      `connect = 127.0.0.1:${env.backendTls}`,
      `cert = ${env.pki.client.cert}`,
      `key = ${env.pki.client.key}`,
      `CAfile = ${env.pki.ca}`,
      'verifyChain = yes',
      'checkHost = localhost',
      'sni = localhost',
      // Fair rival: the project sets TCP_NODELAY on both sockets, so stunnel does too.
      'socket = l:TCP_NODELAY=1',
      'socket = r:TCP_NODELAY=1',
      '',
    ].join('\n'));
    return start('stunnel', [conf], log);
  }, log);
}

function baseline(name: string, target: Target): Contender {
  return { name, bridge: false, target, restart: async () => undefined, stop: async () => undefined };
}

// ---------------------------------------------------------------------------------------------
// Metrics

type Better = 'higher' | 'lower';
interface MetricDef {
  key: string;
  label: string;
  unit: string;
  better: Better;
  /** Target for the ratio mtls-tunnels/stunnel (≥ for higher-better, ≤ for lower-better). */
  ratioTarget?: number;
  /** Target for the project's own value (≤), not a ratio. */
  absTarget?: number;
  digits: number;
  bridgeOnly?: boolean;
}

const METRICS: MetricDef[] = [
  { key: 'bulkUpMBps', label: 'Bulk up (client→server), 1 conn', unit: 'MB/s', better: 'higher', ratioTarget: 1.15, digits: 0 },
  { key: 'bulkDownMBps', label: 'Bulk down (server→client), 1 conn', unit: 'MB/s', better: 'higher', ratioTarget: 1.15, digits: 0 },
  { key: 'cpuPerGBUp', label: 'Bridge CPU per GB, up', unit: 's/GB', better: 'lower', ratioTarget: 0.9, digits: 2, bridgeOnly: true },
  { key: 'cpuPerGBDown', label: 'Bridge CPU per GB, down', unit: 's/GB', better: 'lower', ratioTarget: 0.9, digits: 2, bridgeOnly: true },
  ...(['Clean', 'Abrupt'] as const).flatMap((mode): MetricDef[] => [1, 50].flatMap((c): MetricDef[] => [
    { key: `connPerSecC${c}${mode}`, label: `New conns/s, c=${c}, ${mode.toLowerCase()} close`, unit: '/s', better: 'higher', ratioTarget: 1.15, digits: 0 },
    { key: `connP50MsC${c}${mode}`, label: `  connect→first echo p50, c=${c}, ${mode.toLowerCase()}`, unit: 'ms', better: 'lower', digits: c === 1 ? 2 : 1 },
    { key: `connP99MsC${c}${mode}`, label: `  connect→first echo p99, c=${c}, ${mode.toLowerCase()}`, unit: 'ms', better: 'lower', digits: c === 1 ? 2 : 1 },
    { key: `resumedPctC${c}${mode}`, label: `  upstream handshakes resumed, c=${c}, ${mode.toLowerCase()} (backend count)`, unit: '%', better: 'higher', digits: 0 },
  ])),
  ...REAL_CLIENT_ROWS.map((r): MetricDef => ({
    key: r.key, label: r.label, unit: r.group === 'redis' ? 'GET/s' : 'tps', better: 'higher', ratioTarget: r.key === 'pgbenchSC' ? 1.15 : 1.0, digits: 0,
  })),
  { key: 'pingP50Us', label: 'Ping-pong 32 B p50', unit: 'µs', better: 'lower', ratioTarget: 1.0, digits: 0 },
  { key: 'pingP99Us', label: 'Ping-pong 32 B p99', unit: 'µs', better: 'lower', ratioTarget: 1.0, digits: 0 },
  { key: 'rssIdleMB', label: 'Bridge RSS idle', unit: 'MB', better: 'lower', digits: 1, bridgeOnly: true },
  { key: 'rssLoadedMB', label: 'Bridge RSS, 1000 idle conns open', unit: 'MB', better: 'lower', digits: 1, bridgeOnly: true },
  { key: 'rssPerConnKB', label: 'Bridge RSS per idle conn', unit: 'KB', better: 'lower', ratioTarget: 0.75, digits: 1, bridgeOnly: true },
  { key: 'rssAfterMB', label: 'Bridge RSS after they close', unit: 'MB', better: 'lower', digits: 1, bridgeOnly: true },
  { key: 'rssAfterOverIdle', label: 'RSS after close / idle', unit: '×', better: 'lower', absTarget: 1.2, digits: 2, bridgeOnly: true },
  // Not a target: shows what a lazy runtime gives back later (V8 shrinks its heap when idle).
  { key: 'rssLateOverIdle', label: `  RSS ${LATE_MS / 1000} s later / idle`, unit: '×', better: 'lower', digits: 2, bridgeOnly: true },
];

type Samples = Record<string, Record<string, number[]>>;

function record(samples: Samples, contender: string, key: string, value: number): void {
  ((samples[contender] ??= {})[key] ??= []).push(value);
}

/** Lines in /proc/net/tcp (IPv4 sockets of this network namespace, TIME_WAIT included). */
function socketTableLines(): number {
  try {
    return readFileSync('/proc/net/tcp', 'latin1').split('\n').length - 2;
  } catch {
    return NaN;
  }
}

function rotate<T>(list: T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

async function runRepetitions(contenders: Contender[], env: Env, samples: Samples, say: (s: string) => void): Promise<void> {
  const { opts } = env;
  const bulkTimeout = 180_000;
  for (let rep = 0; rep < opts.reps; rep++) {
    const order = rotate(contenders, rep);
    say(`repetition ${rep + 1}/${opts.reps}: ${order.map((c) => c.name).join(', ')}`);
    for (const dir of ['Up', 'Down'] as const) {
      if (opts.only && !opts.only.has('bulk')) break;
      for (const c of order.filter((x) => !x.connOnly)) {
        const cpu0 = c.pid ? cpuSeconds(c.pid) : 0;
        const back0 = cpuSeconds(env.backendPid);
        const self0 = process.cpuUsage();
        const secs = dir === 'Up' ? await bulkUp(c.target, opts.bulkBytes, bulkTimeout) : await bulkDown(c.target, opts.bulkBytes, bulkTimeout);
        const gb = opts.bulkBytes / 1e9;
        const self = process.cpuUsage(self0);
        record(samples, c.name, `bulk${dir}MBps`, opts.bulkBytes / MB / secs);
        if (c.pid) record(samples, c.name, `cpuPerGB${dir}`, (cpuSeconds(c.pid) - cpu0) / gb);
        record(samples, c.name, `backendCpuPerGB${dir}`, (cpuSeconds(env.backendPid) - back0) / gb);
        record(samples, c.name, `loadgenCpuPerGB${dir}`, (self.user + self.system) / 1e6 / gb);
      }
    }
    for (const close of CLOSE_MODES) {
      if (opts.only && !opts.only.has('conn')) break;
      const mode = close === 'clean' ? 'Clean' : 'Abrupt';
      for (const conc of [1, 50]) {
        for (const c of order) {
          // The owner lookup reads the kernel's socket table, which every contender's churn fills.
          if (c.name === 'mtls-tunnels') record(samples, c.name, `tableLinesC${conc}${close === 'clean' ? 'Clean' : 'Abrupt'}`, socketTableLines());
          const before = await handshakeCounters(env.backendPlain);
          const r = await connRate(c.target, conc, opts.connSeconds * 1000, opts.maxConnsPerRun, close);
          // Let TIME_WAIT and the bridges' connection teardown settle before the next contender
          // (and before reading the counters: a bridge may still be finishing handshakes).
          await sleep(300);
          const after = await handshakeCounters(env.backendPlain);
          if (r.errors > 0) say(`  ${c.name} c=${conc} ${close}: ${r.errors} failed connections`);
          const key = `C${conc}${mode}`;
          record(samples, c.name, `connPerSec${key}`, r.perSecond);
          record(samples, c.name, `connP50Ms${key}`, r.p50Ms);
          record(samples, c.name, `connP99Ms${key}`, r.p99Ms);
          record(samples, c.name, `connErrors${key}`, r.errors);
          const full = after.full - before.full;
          const resumed = after.resumed - before.resumed;
          record(samples, c.name, `handshakesFull${key}`, full);
          record(samples, c.name, `handshakesResumed${key}`, resumed);
          if (c.target.tls || c.bridge) record(samples, c.name, `resumedPct${key}`, full + resumed > 0 ? (100 * resumed) / (full + resumed) : NaN);
        }
      }
    }
    for (const c of opts.only && !opts.only.has('ping') ? [] : order.filter((x) => !x.connOnly)) {
      const r = await pingPong(c.target, opts.pingRounds, 32, 50);
      record(samples, c.name, 'pingP50Us', r.p50Ms * 1000);
      record(samples, c.name, 'pingP99Us', r.p99Ms * 1000);
    }
  }
}

async function runMemory(contenders: Contender[], env: Env, samples: Samples, say: (s: string) => void): Promise<void> {
  const bridges = contenders.filter((c) => c.bridge && !c.connOnly);
  const reps = env.opts.only && !env.opts.only.has('mem') ? 0 : Math.min(env.opts.reps, 3);
  for (let rep = 0; rep < reps; rep++) {
    for (const c of rotate(bridges, rep)) {
      say(`memory ${rep + 1}/${reps}: ${c.name} (fresh process, ${env.opts.idleConns} idle connections)`);
      await c.restart();
      await withTimeout(echoOnce(c.target), 10_000, 'warm-up connection');
      await sleep(1000);
      const idle = rssBytes(c.pid!);
      const sockets = await openIdle(c.target, env.opts.idleConns, 50);
      await sleep(1000);
      const loaded = rssBytes(c.pid!);
      for (const s of sockets) s.destroy();
      await sleep(3000);
      const after = rssBytes(c.pid!);
      record(samples, c.name, 'rssIdleMB', idle / MB);
      record(samples, c.name, 'rssLoadedMB', loaded / MB);
      record(samples, c.name, 'rssPerConnKB', (loaded - idle) / env.opts.idleConns / 1024);
      record(samples, c.name, 'rssAfterMB', after / MB);
      record(samples, c.name, 'rssAfterOverIdle', after / idle);
      await sleep(LATE_MS);
      record(samples, c.name, 'rssLateOverIdle', rssBytes(c.pid!) / idle);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Set-up

async function bundle(dir: string): Promise<{ backend: string; cli: { file: string; from: string } }> {
  const dist = path.join(ROOT, 'dist', 'cli.js');
  const distIsReal = existsSync(dist) && runs(dist);
  const entryPoints: Record<string, string> = { backend: path.join(ROOT, 'bench', 'backend.ts') };
  // Same options as esbuild.mjs, so the bundle is what `npm run build` would ship.
  if (!distIsReal) entryPoints.cli = path.join(ROOT, 'src', 'cli', 'main.ts');
  await esbuild.build({
    entryPoints, outdir: dir, bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    external: ['vscode'], sourcemap: false, logLevel: 'warning',
    // jsonc-parser's UMD build requires its own files at run time, which a bundle cannot satisfy;
    // its ESM build bundles cleanly.
    mainFields: ['module', 'main'],
  });
  return {
    backend: path.join(dir, 'backend.js'),
    cli: distIsReal ? { file: dist, from: 'dist/cli.js (npm run build)' } : { file: path.join(dir, 'cli.js'), from: 'src/cli/main.ts bundled by esbuild (options of esbuild.mjs + mainFields module,main), as dist/cli.js is missing or does not run' },
  };
}

/** Whether a built CLI starts at all (a stub or a broken bundle exits non-zero on --version). */
function runs(cli: string): boolean {
  try {
    execFileSync(process.execPath, [cli, '--version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

async function startBackend(dir: string, file: string, pki: ThrowawayPki): Promise<{ tls: number; plain: number; pid: number }> {
  const { child, pid } = spawnPiped(process.execPath, [file, JSON.stringify({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca })], path.join(dir, 'backend.log'));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('backend did not start in 15 s')), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        clearTimeout(timer);
        resolve(buf.slice(0, buf.indexOf('\n')));
      }
    });
    child.once('exit', (code) => reject(new Error(`backend exited with ${code}: ${tail(path.join(dir, 'backend.log'))}`)));
  });
  const ports = JSON.parse(line) as { tls: number; plain: number };
  return { ...ports, pid };
}

function machineInfo(): Record<string, unknown> {
  // `stunnel -version` prints to stderr and exits non-zero.
  const v = spawnSync('stunnel', ['-version'], { encoding: 'utf8', timeout: 10_000 });
  const stunnel = `${v.stdout ?? ''}${v.stderr ?? ''}`.split('\n').find((l) => l.startsWith('stunnel ')) ?? 'unknown';
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGB: Math.round(os.totalmem() / 1e9),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nodeOpenssl: process.versions.openssl,
    stunnel: stunnel.trim(),
    loadAverageAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

interface Summary {
  medians: Record<string, Record<string, number>>;
  ratios: Record<string, number>;
  verdicts: Record<string, { target: string; met: boolean }>;
}

function summarize(samples: Samples): Summary {
  const medians: Record<string, Record<string, number>> = {};
  for (const [c, metrics] of Object.entries(samples)) {
    medians[c] = {};
    for (const [k, v] of Object.entries(metrics)) medians[c][k] = median(v);
  }
  const ratios: Record<string, number> = {};
  const verdicts: Record<string, { target: string; met: boolean }> = {};
  const p = medians['mtls-tunnels'] ?? {};
  const s = medians.stunnel ?? {};
  for (const m of METRICS) {
    if (p[m.key] !== undefined && s[m.key] !== undefined) ratios[m.key] = p[m.key] / s[m.key];
    if (m.ratioTarget !== undefined && ratios[m.key] !== undefined) {
      const met = m.better === 'higher' ? ratios[m.key] >= m.ratioTarget : ratios[m.key] <= m.ratioTarget;
      verdicts[m.key] = { target: `${m.better === 'higher' ? '≥' : '≤'} ${m.ratioTarget}× stunnel`, met };
    }
    if (m.absTarget !== undefined && p[m.key] !== undefined) {
      verdicts[m.key] = { target: `≤ ${m.absTarget}`, met: p[m.key] <= m.absTarget };
    }
  }
  return { medians, ratios, verdicts };
}

function table(summary: Summary, names: string[]): string {
  const head = ['Metric', ...names, 'ratio mtls-tunnels/stunnel', 'target', 'met?'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const m of METRICS) {
    const cells = names.map((n) => fmt(summary.medians[n]?.[m.key], m.digits));
    const r = summary.ratios[m.key];
    const v = summary.verdicts[m.key];
    lines.push(`| ${m.label} (${m.unit}) | ${cells.join(' | ')} | ${r === undefined ? '' : `${fmt(r, 2)}×`} | ${v?.target ?? ''} | ${v ? (v.met ? 'yes' : '**no**') : ''} |`);
  }
  return lines.join('\n');
}

/**
 * The editor row: 1000 connections in a burst through the extension inside the real VS Code
 * host, measured on its main thread. Its own runner builds and starts VS Code; its table is
 * printed as it wrote it.
 */
function editorBurst(say: (s: string) => void): void {
  say('\neditor burst in the extension host (npm run bench:editor)');
  const file = path.join(ROOT, 'bench', 'results', 'editor-burst-host.txt');
  const started = Date.now();
  const r = spawnSync('npm', ['run', '--silent', 'bench:editor'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  const fresh = existsSync(file) && statSync(file).mtimeMs >= started;
  if (r.status === 0 && fresh) process.stdout.write(`\n${readFileSync(file, 'utf8')}\n`);
  else process.stdout.write(`\neditor burst in the extension host: skipped (npm run bench:editor exited ${r.status ?? r.signal}; it needs the VS Code server that npm run test:vscode installs)\n`);
}

/** The new-connection rows for opt-in contenders, each against stunnel and the default. */
function optInTable(summary: Summary, optIns: string[]): string {
  const head = ['Metric', 'mtls-tunnels', 'stunnel', ...optIns.flatMap((n) => [n, `${n} / stunnel`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const m of METRICS.filter((x) => /^conn|^resumedPct/.test(x.key))) {
    const stunnel = summary.medians.stunnel?.[m.key];
    const cells = optIns.flatMap((n) => {
      const v = summary.medians[n]?.[m.key];
      return [fmt(v, m.digits), v !== undefined && stunnel ? `${fmt(v / stunnel, 2)}×` : ''];
    });
    lines.push(`| ${m.label} (${m.unit}) | ${fmt(summary.medians['mtls-tunnels']?.[m.key], m.digits)} | ${fmt(stunnel, m.digits)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

type HandshakeTotals = Record<string, Record<string, { full: number; resumed: number }>>;

/** Per contender and conn/s row (`C1Clean`, …): full and resumed upstream handshakes, all repetitions. */
function handshakeTotals(samples: Samples): HandshakeTotals {
  const out: HandshakeTotals = {};
  for (const [c, metrics] of Object.entries(samples)) {
    for (const [k, v] of Object.entries(metrics)) {
      const m = /^handshakes(Full|Resumed)(C\d+\w+)$/.exec(k);
      if (!m) continue;
      const row = ((out[c] ??= {})[m[2]] ??= { full: 0, resumed: 0 });
      row[m[1] === 'Full' ? 'full' : 'resumed'] += v.reduce((a, b) => a + b, 0);
    }
  }
  return out;
}

function handshakeLines(totals: HandshakeTotals): string {
  return Object.entries(totals)
    .filter(([, rows]) => Object.values(rows).some((r) => r.full + r.resumed > 0))
    .map(([c, rows]) => `  ${c.padEnd(13)} ${Object.entries(rows).map(([k, r]) => `${k} ${r.resumed}/${r.full + r.resumed}`).join(', ')}`)
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Profile mode

async function profile(env: Env, say: (s: string) => void): Promise<void> {
  const phases: [string, (t: Target) => Promise<unknown>][] = [
    ['bulk', async (t) => {
      await bulkUp(t, env.opts.bulkBytes, 180_000);
      await bulkDown(t, env.opts.bulkBytes, 180_000);
    }],
    ['connections', (t) => connRate(t, 50, 3000, 5000)],
  ];
  for (const [name, work] of phases) {
    const profDir = path.join(env.dir, `prof-${name}`);
    mkdirSync(profDir);
    const c = projectContender(env, ['--cpu-prof', '--cpu-prof-dir', profDir]);
    await c.restart();
    say(`\nprofiling mtls-tunnels (pid ${c.pid}), ${name === 'bulk' ? `${env.opts.bulkBytes / MB} MB up, then down` : '3 s of new connections at c=50'}`);
    await work(c.target);
    await c.stop();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile written');
    const out = path.join(ROOT, 'bench', 'results', `bridge-${name}.cpuprofile`);
    copyFileSync(path.join(profDir, file), out);
    printProfile(out, say);
  }
}

function printProfile(file: string, say: (s: string) => void): void {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
    startTime: number; endTime: number; samples: number[];
  };
  const perSample = (prof.endTime - prof.startTime) / 1000 / prof.samples.length;
  const self = new Map<string, number>();
  let total = 0;
  for (const n of prof.nodes) {
    const hits = n.hitCount ?? 0;
    if (hits === 0) continue;
    const where = n.callFrame.url ? `${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : '';
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + hits * perSample);
    total += hits * perSample;
  }
  const busy = total - (self.get('(idle)') ?? 0);
  const top = [...self.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 15);
  say(`self time, top 15 of ${fmt(busy, 0)} ms busy (${fmt(total, 0)} ms sampled; ${path.relative(ROOT, file)}):`);
  for (const [k, ms] of top) say(`${fmt((100 * ms) / busy, 1).padStart(5)}%  ${fmt(ms, 0).padStart(6)} ms  ${k}`);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-bench-'));
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await stopAll();
    if (opts.keep) say(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    say(`${sig}: tearing down`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => killAllNow());
  try {
    const machine = machineInfo();
    say(`temp dir ${dir}; ${opts.quick ? 'quick' : 'full'} run, ${opts.reps} repetitions, ${opts.bulkBytes / MB} MB bulk`);
    const pki = await createThrowawayPki(path.join(dir, 'pki'));
    const built = await bundle(dir);
    const backend = await startBackend(dir, built.backend, pki);
    const env: Env = { dir, pki, backendTls: backend.tls, backendPlain: backend.plain, backendPid: backend.pid, cli: built.cli, opts };
    say(`backend pid ${backend.pid}: mTLS on ${backend.tls}, plain on ${backend.plain}; mtls-tunnels from ${built.cli.from}`);

    if (opts.profile) {
      await profile(env, say);
      return;
    }

    const contenders: Contender[] = [
      projectContender(env),
      stunnelContender(env),
      // Opt-in: the newest session ticket on every connection (sessionPool.ts), as stunnel does.
      projectContender(env, [], { resumption: 'reuse' }),
      // Opt-in: upstream connections dialled before their clients come (warmPool.ts).
      projectContender(env, [], { warmConnections: 2 }),
      // The engine without the same-user check: what the owner lookup costs, apart from the rest.
      projectContender(env, [], { allowOtherUsers: true }),
      baseline('direct-tls', { port: backend.tls, tls: { cert: readFileSync(pki.client.cert), key: readFileSync(pki.client.key), ca: readFileSync(pki.ca), servername: 'localhost' } }),
      baseline('plain-tcp', { port: backend.plain }),
    ];
    for (const c of contenders) await c.restart();
    // Sanity and warm-up: one echo, a small transfer each way, a few connections.
    for (const c of contenders) {
      await withTimeout(echoOnce(c.target), 10_000, `${c.name} first echo`);
      await bulkUp(c.target, 8 * MB, 60_000);
      await bulkDown(c.target, 8 * MB, 60_000);
      await connRate(c.target, 10, 300, 200);
    }
    const samples: Samples = {};
    const t0 = Date.now();
    await runRepetitions(contenders, env, samples, say);
    const real = new Set(['redis', 'pg'].filter((g) => !opts.only || opts.only.has(g)));
    if (real.size > 0) {
      await runRealClients({ dir, pki, cli: built.cli.file, reps: opts.reps, quick: opts.quick, only: real },
        (c, k, v) => record(samples, c, k, v), say);
    }
    await runMemory(contenders, env, samples, say);
    const handshakes = handshakeTotals(samples);
    const log = readFileSync(path.join(dir, 'mtls-tunnels.log'), 'utf8');
    const connected = (log.match(/ connected \(/g) ?? []).length;
    const resumed = (log.match(/ connected \([^)]*resumed\)/g) ?? []).length;

    const names = contenders.filter((c) => !c.connOnly).map((c) => c.name);
    const optIns = contenders.filter((c) => c.connOnly).map((c) => c.name);
    const summary = summarize(samples);
    const result = {
      date: new Date().toISOString(),
      command: ['npx tsx bench/run.ts', ...process.argv.slice(2)].join(' '),
      durationSeconds: Math.round((Date.now() - t0) / 1000),
      machine: { ...machine, loadAverageAtEnd: os.loadavg().map((x) => Number(x.toFixed(2))) },
      options: { ...opts, only: opts.only ? [...opts.only] : undefined },
      bridges: {
        'mtls-tunnels': `node ${built.cli.from} up --config FILE`,
        stunnel: 'stunnel client mode, generated stunnel.conf (defaults otherwise: session cache on)',
      },
      notes: {
        projectSessionResumption: `${resumed} of ${connected} upstream handshakes resumed (from the mtls-tunnels log)`,
        upstreamHandshakesInConnRows: 'counted by the backend (isSessionReused() per mTLS connection), summed over repetitions; see `handshakes`',
        baselines: 'direct-tls: the load generator does mTLS itself (full handshake each time, no bridge); plain-tcp: the backend\'s plain twin',
      },
      handshakes,
      metrics: METRICS,
      medians: summary.medians,
      ratios: summary.ratios,
      verdicts: summary.verdicts,
      samples,
    };
    const outDir = path.join(ROOT, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    const m = machine;
    process.stdout.write(`\n${m.cpuModel} × ${m.cores}, ${m.kernel}, Node ${m.node} (OpenSSL ${m.nodeOpenssl}), ${m.stunnel}\n`);
    process.stdout.write(`${opts.reps} interleaved repetitions (memory: ${Math.min(opts.reps, 3)}), medians; bulk ${opts.bulkBytes / MB} MB; load average ${m.loadAverageAtStart} → ${result.machine.loadAverageAtEnd}\n`);
    process.stdout.write(`mtls-tunnels upstream session resumption: ${result.notes.projectSessionResumption}\n\n`);
    process.stdout.write(`upstream handshakes in the conn/s rows, resumed/total (backend's count, all repetitions):\n${handshakeLines(handshakes)}\n\n`);
    const lines = summary.medians['mtls-tunnels'] ?? {};
    if (lines.tableLinesC1Clean !== undefined) {
      process.stdout.write(`lines in /proc/net/tcp when mtls-tunnels' conn/s rows began (medians; the same-user check reads it): ${['C1Clean', 'C50Clean', 'C1Abrupt', 'C50Abrupt'].map((k) => `${k} ${fmt(lines[`tableLines${k}`], 0)}`).join(', ')}\n\n`);
    }
    process.stdout.write(`${table(summary, names)}\n\n`);
    if (optIns.length > 0) process.stdout.write(`opt-in settings, new-connection rows only (same run):\n\n${optInTable(summary, optIns)}\n\n`);
    process.stdout.write('written to bench/results/latest.json\n');
    if (opts.only ? opts.only.has('editor') : !opts.quick) editorBurst(say);
  } finally {
    await cleanup();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
