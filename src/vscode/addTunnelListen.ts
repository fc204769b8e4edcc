/**
 * Add Tunnel's last step: where the user's tools connect. A free local port (the protocol's usual
 * one when free), or, for PostgreSQL, a unix socket in a folder only the user can use:
 * `~/.mtls-tunnels/NAME/.s.PGSQL.5432`, the name psql looks for in a directory (`psql -h DIR`,
 * `PGHOST=DIR`), so no other local user can reach it whatever the platform's loopback rules. The
 * folder is made mode 0700 when the entry is written; the socket itself is made 0600 by the tunnel.
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Protocol } from '../core/config/model';
import { CommandError } from './notifier';
import { Answer, BACK, inputStep, pickStep, StepOptions } from './quickSteps';

/** Local ports people expect for each protocol; any free port when taken. */
const PREFERRED_PORT: Partial<Record<Protocol, number>> = { postgres: 15432, 'postgres-direct': 15432, mysql: 13306 };
/** Where the per-tunnel socket folders go, under the home folder. */
const SOCKETS_FOLDER = '.mtls-tunnels';

/** A port, or the socket choice: `unix:${userHome}/.mtls-tunnels/NAME/.s.PGSQL.5432`. */
export type ListenAnswer = number | string;

/** Protocols whose clients find a socket by its folder. */
export function offersSocket(protocol: Protocol | undefined): boolean {
  return protocol === 'postgres' || protocol === 'postgres-direct';
}

/** The socket listen value for a PostgreSQL tunnel: portable, `${userHome}` kept for the settings file. */
export function postgresSocketListen(name: string): string {
  return `unix:\${userHome}/${SOCKETS_FOLDER}/${safeFolderName(name)}/.s.PGSQL.5432`;
}

/** The folder a socket listen value from postgresSocketListen is in, on this machine. */
function socketFolder(listen: string): string {
  return path.dirname(listen.slice('unix:'.length).replace('${userHome}', os.homedir()));
}

/**
 * Makes the socket's folder, only the user's (0700 whatever the umask, and tightened when it is
 * there already): the tunnel refuses a folder others can write to, and others must not list it.
 */
export async function prepareListen(listen: ListenAnswer): Promise<void> {
  if (typeof listen !== 'string') return;
  const folder = socketFolder(listen);
  await fs.mkdir(folder, { recursive: true, mode: 0o700 });
  await fs.chmod(path.dirname(folder), 0o700).catch(() => undefined);
  await fs.chmod(folder, 0o700);
}

/**
 * The listen step: for PostgreSQL a pick between a local port and a socket, then the port when
 * chosen. `draft`: 'free' (the suggested port), 'socket', or a port, without asking.
 */
export async function listenStep(o: StepOptions & {
  name: string; protocol: Protocol | undefined; value: ListenAnswer | undefined; suggested: number; draft?: number | 'free' | 'socket';
}): Promise<Answer<ListenAnswer>> {
  if (o.draft !== undefined) return o.draft === 'free' ? o.suggested : o.draft === 'socket' ? postgresSocketListen(o.name) : o.draft;
  let back = o.back;
  if (offersSocket(o.protocol) && process.platform !== 'win32') {
    type Where = vscode.QuickPickItem & { socket: boolean };
    const items: Where[] = [
      { label: `$(plug) A local port (127.0.0.1:${typeof o.value === 'number' ? o.value : o.suggested})`, detail: 'psql -h 127.0.0.1 -p PORT; any process on this machine can connect, other users are refused on Linux', socket: false },
      { label: '$(lock) A unix socket in a folder only you can use', detail: `~/${SOCKETS_FOLDER}/${safeFolderName(o.name)}/.s.PGSQL.5432: psql -h that folder; no other user can reach it, on any system`, socket: true },
    ];
    const where = await pickStep({ title: o.title, back, placeholder: 'Where do your tools connect?', items, active: items[typeof o.value === 'string' ? 1 : 0] });
    if (where === undefined || where === BACK) return where;
    if (where.socket) return postgresSocketListen(o.name);
    back = true;
  }
  const port = await inputStep({
    title: o.title, back, prompt: 'The local port your tools connect to (on 127.0.0.1); this one is free now', value: String(typeof o.value === 'number' ? o.value : o.suggested),
    validate: (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : 'A port from 1 to 65535'),
  });
  return port === undefined || port === BACK ? port : Number(port);
}

/** A tunnel name as one folder name: no separators, nothing hidden. */
function safeFolderName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '') || 'tunnel';
}

/** The protocol's usual local port if nothing listens there, else whatever port the system hands out. */
export async function freePort(protocol: Protocol | undefined, taken: Set<number>): Promise<number> {
  const preferred = PREFERRED_PORT[protocol ?? 'tls'];
  if (preferred && !taken.has(preferred) && (await tryListen(preferred)) !== undefined) return preferred;
  for (let i = 0; i < 5; i++) {
    const port = await tryListen(0);
    if (port !== undefined && !taken.has(port)) return port;
  }
  throw new CommandError('Found no free local port for the tunnel.');
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host: '127.0.0.1', port }, () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}
