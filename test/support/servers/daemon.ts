/**
 * Child processes for the test servers: a short command run to completion, and a long-running
 * daemon whose output is kept so a failed start can show the server's own words.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this system user (tests run as root; PostgreSQL refuses root). */
  user?: SystemUser;
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** stdout as text. */
  out: string;
}

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

export function systemUser(name: string): SystemUser {
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { name, uid: id('-u'), gid: id('-g') };
}

/**
 * An environment for client commands (psql, redis-cli, curl, mariadb) with nothing from the
 * developer's shell they would read (PGSSLMODE, PGUSER, REDISCLI_AUTH, proxies), and a HOME without
 * ~/.postgresql certificates or ~/.my.cnf that would change which credentials they send.
 */
export function clientEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: '/nonexistent', LC_ALL: 'C', LANG: 'C' };
}

/** Runs a command to completion; killed with SIGKILL after `timeoutMs` (default 30 s). */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      uid: options.user?.uid,
      gid: options.user?.gid,
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const out = Buffer.concat(stdout);
      const err = Buffer.concat(stderr).toString('utf8');
      const timedOut = signal === 'SIGKILL' ? `\n[killed after ${timeoutMs} ms]` : '';
      resolve({ code, signal, stdout: out, out: out.toString('utf8'), stderr: err + timedOut });
    });
    // Ignore EPIPE when the command exits without reading all of its input.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Like run, but throws with the command's output unless it exits 0. */
export async function runOk(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${result.code ?? result.signal}:\n${result.out}${result.stderr}`);
  }
  return result;
}

// Daemons still alive when the test process exits are killed, so no server outlives its test file.
const live = new Set<ChildProcess>();
process.once('exit', () => live.forEach((child) => child.kill('SIGKILL')));

export class Daemon {
  private output = '';
  private readonly child: ChildProcess;
  readonly exited: Promise<void>;
  exitCode: number | null | undefined = undefined;

  constructor(
    readonly label: string,
    file: string,
    args: string[],
    options: Pick<RunOptions, 'cwd' | 'user' | 'env'> = {},
  ) {
    this.child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      uid: options.user?.uid,
      gid: options.user?.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    const keep = (b: Buffer) => {
      // Bounded: the tail is what explains a failure.
      this.output = (this.output + b.toString('utf8')).slice(-64_000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        keep(Buffer.from(`\n[spawn failed: ${err.message}]\n`));
        this.exitCode = null;
        live.delete(this.child);
        resolve();
      });
      this.child.once('exit', (code, signal) => {
        this.exitCode = code;
        if (signal) keep(Buffer.from(`\n[exited on ${signal}]\n`));
        live.delete(this.child);
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** What the daemon printed to stdout and stderr (the tail of it). */
  get log(): string {
    return this.output;
  }

  /** Sends `signal`, and SIGKILL if the daemon has not exited after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Polls `ready` until it resolves true; fails with `describeFailure()` (the server's log) when the
 * daemon exits first or `timeoutMs` passes.
 */
export async function waitUntilReady(
  daemon: Daemon,
  ready: () => Promise<boolean>,
  options: { timeoutMs: number; describeFailure?: () => Promise<string> },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const failure = async (why: string) => {
    const log = options.describeFailure ? await options.describeFailure() : daemon.log;
    return new Error(`${daemon.label} ${why}. Its log:\n${log || '(empty)'}`);
  };
  for (;;) {
    if (!daemon.running) throw await failure(`exited with ${daemon.exitCode} while starting`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw await failure(`did not accept connections within ${options.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
