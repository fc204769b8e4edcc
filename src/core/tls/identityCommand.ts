/**
 * Runs a tunnel's `identityCommand`: the user's command line through the user's shell (what a
 * terminal would do with it), in the workspace folder, with the tunnel's name and the paths of
 * its `cert` and `key` in the environment. Its standard output may hold a private key, so it is
 * kept in memory only, read as PEM and never logged; only the tail of its standard error is kept
 * to explain a failure. A command that runs too long is killed with its whole process group
 * (`step` and `vault` may leave helpers behind).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { isCertificateLabel, splitPem } from '../certs/pem';
import { isPrivateKeyLabel } from '../certs/privateKeys';

/** A renewal that takes longer than this is stuck (a prompt nobody answers, a dead CA). */
export const IDENTITY_COMMAND_TIMEOUT_MS = 120_000;
/** More standard output than this is not a certificate and a key. */
const MAX_STDOUT_BYTES = 1024 * 1024;
const STDERR_TAIL_BYTES = 16 * 1024;
const STDERR_LINES = 5;
/** After SIGTERM, how long the process group has before SIGKILL. */
const KILL_GRACE_MS = 2000;

export interface ShellInvocation {
  file: string;
  args: string[];
  /** cmd.exe parses its own command line: the quoted command goes to it as written. */
  windowsVerbatimArguments: boolean;
}

/**
 * How the command line reaches the shell, as Node's own `shell: true` builds it: `/bin/sh -c`
 * on POSIX; on Windows `%ComSpec%` (else `cmd.exe`) with `/d /s /c "…"` — `/d` skips AutoRun
 * macros, `/s` strips exactly the outer quotes so the command's own quotes survive.
 */
export function shellInvocation(command: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): ShellInvocation {
  if (platform !== 'win32') return { file: '/bin/sh', args: ['-c', command], windowsVerbatimArguments: false };
  // Windows variable names are case-insensitive; a plain object (not process.env) is not.
  const comSpecKey = Object.keys(env).find((k) => k.toLowerCase() === 'comspec');
  const file = (comSpecKey && env[comSpecKey]) || 'cmd.exe';
  if (/^(?:.*\\)?cmd(?:\.exe)?$/i.test(file)) return { file, args: ['/d', '/s', '/c', `"${command}"`], windowsVerbatimArguments: true };
  return { file, args: ['-c', command], windowsVerbatimArguments: false };
}

export interface IdentityCommandRequest {
  command: string;
  tunnel: string;
  certFile?: string;
  keyFile?: string;
  cwd: string;
  timeoutMs?: number;
  /** The environment it inherits (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Aborted: the command is stopped as on a timeout (the tunnel stopped). */
  signal?: AbortSignal;
}

export type IdentityCommandResult =
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderrTail: string[]; tooMuchOutput: boolean }
  | { kind: 'timeout'; timeoutMs: number; stderrTail: string[] }
  | { kind: 'not-started'; message: string };

export function runIdentityCommand(request: IdentityCommandRequest): Promise<IdentityCommandResult> {
  const env: NodeJS.ProcessEnv = { ...(request.env ?? process.env), MTLS_TUNNEL_NAME: request.tunnel };
  if (request.certFile) env.MTLS_CERT_FILE = request.certFile;
  if (request.keyFile) env.MTLS_KEY_FILE = request.keyFile;
  const shell = shellInvocation(request.command, process.platform, env);
  const timeoutMs = request.timeoutMs ?? IDENTITY_COMMAND_TIMEOUT_MS;
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(shell.file, shell.args, {
        cwd: request.cwd,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsVerbatimArguments: shell.windowsVerbatimArguments,
        windowsHide: true,
        // Its own process group on POSIX, so a timeout kills what it started too.
        detached: process.platform !== 'win32',
      });
    } catch (e) {
      resolve({ kind: 'not-started', message: (e as Error).message });
      return;
    }
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let tooMuchOutput = false;
    let stderr = Buffer.alloc(0);
    let timedOut = false;
    child.stdout!.on('data', (b: Buffer) => {
      if (stdoutBytes + b.length > MAX_STDOUT_BYTES) tooMuchOutput = true;
      else stdout.push(b);
      stdoutBytes += b.length;
    });
    child.stderr!.on('data', (b: Buffer) => {
      stderr = Buffer.concat([stderr, b]);
      if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
    });
    const stop = () => {
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    request.signal?.addEventListener('abort', stop, { once: true });
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ kind: 'not-started', message: e.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stderrTail = tailLines(stderr.toString('utf8'));
      if (timedOut) resolve({ kind: 'timeout', timeoutMs, stderrTail });
      else resolve({ kind: 'exited', code, signal, stdout: Buffer.concat(stdout), stderrTail, tooMuchOutput });
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    // The shell is gone, but what it started may still hold the pipes open.
    if (child.pid !== undefined && process.platform !== 'win32') tryKill(-child.pid, signal);
    return;
  }
  if (process.platform === 'win32') {
    spawn('taskkill', ['/pid', String(child.pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true }).on('error', () => undefined);
    return;
  }
  tryKill(-child.pid, signal);
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** The last few non-empty lines, each cut to a readable length. */
function tailLines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.trim() !== '').slice(-STDERR_LINES).map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l));
}

/** What a successful command left: an identity on stdout (in memory only), or files to read again. */
export type CommandIdentity =
  | { kind: 'files' }
  | { kind: 'pem'; cert: Buffer; key: Buffer }
  | { kind: 'unusable'; why: string };

/**
 * Reads the command's standard output: nothing (but whitespace or chatter without PEM) means the
 * files were written; PEM must hold at least one certificate and exactly one private key. Only
 * counts and labels are ever put into words, never the text.
 */
export function identityFromOutput(stdout: Buffer, tooMuchOutput = false): CommandIdentity {
  if (tooMuchOutput) return { kind: 'unusable', why: `printed more than ${MAX_STDOUT_BYTES / 1024} KiB on standard output` };
  const text = stdout.toString('latin1');
  const blocks = splitPem(text);
  if (blocks.length === 0) return text.includes('-----BEGIN ') ? { kind: 'unusable', why: 'printed a PEM block that is not complete' } : { kind: 'files' };
  const certs = blocks.filter((b) => isCertificateLabel(b.label));
  const keys = blocks.filter((b) => isPrivateKeyLabel(b.label));
  if (certs.length === 0) return { kind: 'unusable', why: `printed ${keys.length ? 'a private key' : 'PEM'} but no certificate` };
  if (keys.length === 0) return { kind: 'unusable', why: `printed ${certs.length === 1 ? 'a certificate' : `${certs.length} certificates`} but no private key` };
  if (keys.length > 1) return { kind: 'unusable', why: `printed ${keys.length} private keys; it must print one` };
  return { kind: 'pem', cert: Buffer.from(certs.map((b) => b.pem).join(''), 'latin1'), key: Buffer.from(keys[0].pem, 'latin1') };
}
