/**
 * The built command line as a user runs it: `node dist/cli.js …` (or `dist/demo.js`) in a child
 * process, its output collected. A short command runs to its end; `up` keeps running, and a test
 * waits on its output (the listening lines) and stops it with a signal. Every wait has a deadline
 * that kills the child, so a hung CLI fails a test instead of the run.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as path from 'node:path';

/** The built CLI; MTLS_TUNNELS_CLI points the tests at another build of it. */
export const CLI = process.env.MTLS_TUNNELS_CLI ?? path.resolve(__dirname, '..', '..', 'dist', 'cli.js');

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Finished extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs `node script …args` to its end; kills it and rejects after `timeoutMs`. */
export async function runScript(script: string, args: string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<Finished> {
  const p = RunningProcess.start(script, args, options);
  const timeoutMs = options.timeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`${path.basename(script)} ${args.join(' ')} did not exit within ${timeoutMs} ms\n${p.stdout}\n${p.stderr}`));
    }, timeoutMs);
  });
  try {
    const exit = await Promise.race([p.exited, deadline]);
    return { ...exit, stdout: p.stdout, stderr: p.stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** `NAME → port` from the contract's lines `NAME listening on 127.0.0.1:PORT -> TARGET (PROTOCOL)`. */
export function listeningPorts(stdout: string): Map<string, number> {
  const ports = new Map<string, number>();
  for (const m of stdout.matchAll(/^(\S+) listening on 127\.0\.0\.1:(\d+) -> (\S+) \((\S+)\)$/gm)) ports.set(m[1], Number(m[2]));
  return ports;
}

/** A running `node script …args` (`mtls-tunnels up`): its output so far, waits on it, and its exit. */
export class RunningProcess {
  stdout = '';
  stderr = '';
  /** Resolves once the process has exited and its output is read to the end. */
  readonly exited: Promise<Exit>;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (d: Buffer) => (this.stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  }

  static start(script: string, args: string[], options: SpawnOptions = {}): RunningProcess {
    return new RunningProcess(spawn(process.execPath, [script, ...args], { cwd: options.cwd, env: options.env ?? process.env }));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Resolves once `ready(stdout)` holds, checked as output arrives; rejects (and kills the
   * process) when it exits first or `timeoutMs` passes.
   */
  waitForOutput(ready: (stdout: string) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      let finished = false;
      const finish = (error?: Error) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.child.stdout.off('data', check);
        if (!error) return resolve();
        this.child.kill('SIGKILL');
        reject(error);
      };
      const check = () => {
        if (ready(this.stdout)) finish();
      };
      const timer = setTimeout(() => finish(new Error(`no ${what} within ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`)), timeoutMs);
      // After the collector the constructor registered, so `stdout` already holds the chunk.
      this.child.stdout.on('data', check);
      void this.exited.then((exit) => finish(new Error(`exited with ${exit.code ?? exit.signal} before ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`)));
      check();
    });
  }

  /** Sends `signal` and waits for the exit; kills it and rejects after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 10_000): Promise<Exit> {
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`did not exit within ${timeoutMs} ms of ${signal}\nstderr:\n${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills it if it still runs; for `finally`. */
  async dispose(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}
