/** Child processes of the benchmark: start, wait until they listen, read /proc, tear down. */
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import * as net from 'node:net';

const CLK_TCK = 100; // getconf CLK_TCK on Linux x86_64

const children = new Set<ChildProcess>();

export interface Started {
  child: ChildProcess;
  pid: number;
}

/** Spawns with stdout+stderr appended to `logFile`, stdin a pipe (closed on teardown). */
export function start(command: string, args: string[], logFile: string): Started {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { stdio: ['pipe', fd, fd] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    child.on('error', () => undefined);
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    return { child, pid: child.pid };
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child exited. */
export function stop(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.stdin?.destroy();
    child.kill('SIGTERM');
  });
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
}

/** Synchronous last resort (process 'exit' handler). */
export function killAllNow(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls until 127.0.0.1:port accepts a TCP connection (or the child dies, or time runs out). */
export async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on ${port} after ${timeoutMs} ms`);
}

/** `detached`: in a session of its own (and so, on Linux, its own scheduling autogroup). */
export function spawnPiped(command: string, args: string[], logFile: string, options: { detached?: boolean } = {}): Started {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', fd], detached: options.detached });
    children.add(child);
    child.once('exit', () => children.delete(child));
    child.on('error', () => undefined);
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    return { child, pid: child.pid };
  } finally {
    closeSync(fd);
  }
}

/** user+system CPU seconds of a process (all its threads). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
