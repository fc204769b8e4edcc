/**
 * A real HTTP CONNECT proxy: Debian's tinyproxy in the foreground on 127.0.0.1, with a config
 * written to a fresh temp folder. `connectPorts` limits the ports CONNECT may reach (anything else
 * gets "403 Access violation"); `basicAuth` makes it demand credentials (407 without any).
 */
import { readFile, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { binary } from './binaries';
import { Daemon, waitUntilReady } from './daemon';
import { unusedPort } from '../ports';
import { once, removeDir, startIn } from './server';

export interface TinyproxyOptions {
  /** Listen port; a free one when omitted. */
  port?: number;
  /** Ports CONNECT may reach; every port when omitted. */
  connectPorts?: number[];
  /** A user name and password the proxy requires. */
  basicAuth?: { user: string; password: string };
  startTimeoutMs?: number;
}

export interface RunningTinyproxy {
  host: '127.0.0.1';
  port: number;
  dir: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** tinyproxy's log file and what it printed. */
  log(): Promise<string>;
  /** The CONNECT requests it has logged so far (`host:port`), in order. */
  connects(): Promise<string[]>;
  stop(): Promise<void>;
}

export function startTinyproxy(options: TinyproxyOptions = {}): Promise<RunningTinyproxy> {
  const auth = options.basicAuth;
  if (auth && !/^[A-Za-z0-9_.-]+$/.test(auth.user + auth.password)) {
    // tinyproxy's config grammar takes nothing else, and says only "Syntax error".
    return Promise.reject(new Error('tinyproxy BasicAuth: user and password may hold only letters, digits, _ . and -'));
  }
  return startIn('tinyproxy', async (dir, onFailure) => {
    const port = options.port ?? (await unusedPort());
    const logFile = path.join(dir, 'tinyproxy.log');
    const conf = path.join(dir, 'tinyproxy.conf');
    const lines = [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      'Allow 127.0.0.1',
      'MaxClients 64',
      'LogLevel Connect',
      `LogFile "${logFile}"`,
      `PidFile "${path.join(dir, 'tinyproxy.pid')}"`,
      'DisableViaHeader Yes',
      ...(options.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
      ...(options.basicAuth ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`] : []),
    ];
    await writeFile(conf, lines.join('\n') + '\n');
    // -d: stay in the foreground, so the Daemon owns the process and its exit.
    const daemon = new Daemon('tinyproxy', binary('tinyproxy'), ['-d', '-c', conf], { cwd: dir });
    onFailure(() => daemon.stop('SIGKILL'));
    const log = async () => daemon.log + (await readFile(logFile, 'utf8').catch(() => ''));
    await waitUntilReady(daemon, () => accepts(port), { timeoutMs: options.startTimeoutMs ?? 10_000, describeFailure: log });
    return {
      host: '127.0.0.1' as const,
      port,
      dir,
      url: `http://127.0.0.1:${port}`,
      log,
      connects: async () => [...(await log()).matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1]),
      stop: once(async () => {
        await daemon.stop('SIGTERM', 5_000);
        await removeDir(dir);
      }),
    };
  });
}

/** True once something accepts a TCP connection on the port (the probe sends nothing). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
