/**
 * `mtls-tunnels exec NAME [--config FILE] -- COMMAND…`: one tunnel up for exactly as long as one
 * command runs, the command given the tunnel's client variables (the same `clientEnv` as the
 * editor's Open Terminal), so `exec staging-db -- psql -c 'select 1'` needs no connection flags.
 *
 * The tunnel listens on its `listen`, or on a free port of the same host when that one is taken or
 * is 0: the variables say where. SIGINT, SIGTERM and SIGHUP are passed on to the command (which
 * decides what they mean: psql cancels a query on SIGINT); when it ends the tunnel stops and exec
 * exits with its exit code, 128 + the signal's number when a signal ended it, as a shell does.
 * A start failure exits 1 with the tunnel's one-line diagnosis; a command that cannot be run
 * exits 127 (not found) or 126 (not executable), as a shell does.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { clientEnv, readCertificateCommonName } from '../core/clientEnv';
import { TunnelConfig, formatEndpoint, isSocketPath } from '../core/config/model';
import { formatDiagnosis } from '../core/diagnostics/diagnosis';
import { Logger } from '../core/log';
import { Tunnel, TunnelStartError } from '../core/tunnel/tunnel';

export interface ExecIo {
  stderr(s: string): void;
  logger: Logger;
}

/** The signals a terminal, a supervisor or a CI runner sends to ask a command to end. */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * How long the command's own connections may finish once it has exited. It is gone, so they
 * are normally closed already; this bounds a child it left behind holding one open.
 */
const DRAIN_MS = 2000;

/** Runs `command` with `tunnel` up; resolves with exec's exit code. */
export async function runExec(config: TunnelConfig, command: string[], io: ExecIo): Promise<number> {
  // From the start: a signal while the tunnel starts means "do not run it"; one in the instant
  // between spawning the command and listening for signals must not end exec with it.
  const relay = new SignalRelay();
  try {
    const tunnel = await startTunnel(config, io);
    if (typeof tunnel === 'string') {
      io.stderr(`mtls-tunnels: ${tunnel}\n`);
      return 1;
    }
    try {
      if (relay.received) return exitCodeOf(relay.received);
      const address = tunnel.address()!;
      io.logger.info(`[${config.name}] listening on ${formatEndpoint(address)} -> ${config.targets.map(formatEndpoint).join(',')} (${config.protocol}) for ${command[0]}`);
      const env = { ...process.env, ...clientEnv({ ...config, listen: address, certificateCommonName: readCertificateCommonName(config.cert) }) };
      return await runChild(command, env, io, relay);
    } finally {
      await tunnel.stop();
    }
  } finally {
    relay.dispose();
  }
}

/** 128 + the signal's number, as a shell reports a command a signal ended. */
function exitCodeOf(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Keeps exec alive on SIGINT, SIGTERM and SIGHUP and passes each on to the command once there is
 * one. The command shares our terminal, so a Ctrl-C there reaches it directly as well; the relay
 * is for what was sent to exec alone (kill, a supervisor stopping it).
 */
class SignalRelay {
  received?: NodeJS.Signals;
  private child?: ChildProcess;
  private readonly handlers = FORWARDED_SIGNALS.map((s) => [s, () => this.on(s)] as const);

  constructor() {
    for (const [s, h] of this.handlers) process.on(s, h);
  }

  attach(child: ChildProcess): void {
    this.child = child;
  }

  dispose(): void {
    for (const [s, h] of this.handlers) process.off(s, h);
  }

  private on(signal: NodeJS.Signals): void {
    this.received ??= signal;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

/**
 * The tunnel, listening; or the one line saying why it cannot. A taken port is not a failure
 * here: the command learns the address from its variables, so any free port serves it. What the
 * tunnel logs while starting is held back until it listens, so a failure is said once (by exec)
 * and a taken port that was worked around is not reported as an error.
 */
async function startTunnel(config: TunnelConfig, io: ExecIo): Promise<Tunnel | string> {
  const attempt = async (c: TunnelConfig): Promise<Tunnel | TunnelStartError> => {
    const held = heldLogger(io.logger);
    const tunnel = new Tunnel(c, { logger: held.logger, passphrase: c.passphrase, drainTimeoutMs: DRAIN_MS });
    try {
      await tunnel.start();
      held.release();
      return tunnel;
    } catch (e) {
      if (e instanceof TunnelStartError) return e;
      held.release();
      throw e;
    }
  };
  const first = await attempt(config);
  if (!(first instanceof TunnelStartError)) return first;
  // A unix socket in use is someone else's: only a taken TCP port moves to a free one.
  if (first.diagnosis.code !== 'PORT_IN_USE' || isSocketPath(config.listen)) return formatDiagnosis(first.diagnosis);
  io.logger.info(`[${config.name}] ${formatEndpoint(config.listen)} is taken; using a free port instead`);
  const second = await attempt({ ...config, listen: { host: config.listen.host, port: 0 } });
  return second instanceof TunnelStartError ? formatDiagnosis(second.diagnosis) : second;
}

/** A logger that keeps its lines until release() sends them on (and every later one straight through). */
function heldLogger(base: Logger): { logger: Logger; release(): void } {
  let held: (() => void)[] | undefined = [];
  const line = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error') => (m: string) => (held ? held.push(() => base[level](m)) : base[level](m));
  return {
    logger: { trace: line('trace'), debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), logLevel: base.logLevel },
    release() {
      const lines = held ?? [];
      held = undefined;
      for (const l of lines) l();
    },
  };
}

function runChild(command: string[], env: NodeJS.ProcessEnv, io: ExecIo, relay: SignalRelay): Promise<number> {
  return new Promise((resolve) => {
    const [file, ...args] = command;
    const child = spawn(file, args, { env, stdio: 'inherit' });
    relay.attach(child);
    child.once('error', (e: NodeJS.ErrnoException) => {
      // The command never ran (spawn reports no 'exit' then).
      const notFound = e.code === 'ENOENT';
      io.stderr(`mtls-tunnels exec: cannot run ${file}: ${notFound ? 'command not found' : e.message}\n`);
      resolve(notFound ? 127 : 126);
    });
    child.once('exit', (code, signal) => resolve(signal ? exitCodeOf(signal) : code ?? 1));
  });
}
