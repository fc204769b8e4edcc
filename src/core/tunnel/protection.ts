/**
 * What keeps other local users off a tunnel, and the gate that enforces it on Linux. A loopback
 * port is open to every process on the machine (every user of a shared development host, a
 * container, WSL), and whoever connects gets the tunnel's client certificate. So on Linux each
 * accepted connection's owner is looked up (socketOwner.ts) and refused unless it is the user the
 * tunnel runs as. Where that cannot be checked the tunnel says so (`protection.kind: 'none'` with
 * the reason) instead of pretending; a unix-socket listener is protected by its file mode.
 */
import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import { isLoopbackHost, TunnelConfig } from '../config/model';
import { Logger } from '../log';
import { listsListener, ownEndListed, peerOwner } from './socketOwner';

export interface Protection {
  /** `same-user`: other users' connections are refused; `unix-socket`: an owner-only socket file; `none`: any local process can connect. */
  kind: 'same-user' | 'unix-socket' | 'none';
  /** One sentence for a tooltip, the log and `check`. */
  reason: string;
}

type ListenPart = Pick<TunnelConfig, 'listen' | 'allowOtherUsers'>;

/** The protection in one line, as `check`'s Protection row, Test Connection and the editor's tooltip say it. */
export function describeProtection(p: Protection): string {
  const what = p.kind === 'same-user' ? 'same-user check' : p.kind === 'unix-socket' ? 'unix socket' : 'none';
  return `${what}: ${p.reason}`;
}

/**
 * What protection the settings ask for on this platform, before anything listens (`check`, a
 * stopped tunnel's tooltip). A running tunnel's own `protection` is what it found it could do.
 */
export function expectedProtection(config: ListenPart, platform: NodeJS.Platform = process.platform): Protection {
  const l = config.listen;
  if ('path' in l) return { kind: 'unix-socket', reason: `unix socket ${l.path}: only its owner can connect (mode 0600)` };
  if (!isLoopbackHost(l.host)) return { kind: 'none', reason: `listens on ${l.host}, not loopback ("unsafeListen"): anyone who reaches it can use the tunnel` };
  if (config.allowOtherUsers) return { kind: 'none', reason: '"allowOtherUsers" is true: every local user and process can connect' };
  if (platform !== 'linux') {
    const os = platform === 'darwin' ? 'macOS' : platform === 'win32' ? 'Windows' : platform;
    return { kind: 'none', reason: `${os} cannot tell which user owns a loopback connection: every local process can connect${platform === 'win32' ? '' : '; use a "unix:" listener to keep other users out'}` };
  }
  return { kind: 'same-user', reason: `only processes of ${ownName()} (uid ${ownUid()}) can connect; other local users are refused` };
}

/**
 * What would protect this tunnel's listener here, found without its own listener (`check` runs
 * while the tunnel may be stopped): on Linux a throwaway loopback listener shows whether the
 * kernel's socket table can be read.
 */
export async function probeProtection(config: ListenPart): Promise<Protection> {
  const expected = expectedProtection(config);
  if (expected.kind !== 'same-user') return expected;
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return await SameUserGate.protectionFor(config, server);
  } catch (e) {
    return { kind: 'none', reason: `the same-user check could not be tried (${(e as Error).message})` };
  } finally {
    server.close();
  }
}

function ownUid(): number {
  return process.getuid?.() ?? -1;
}

function ownName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${ownUid()}`;
  }
}

let passwd: Promise<Map<number, string>> | undefined;

/** The user name of a uid from /etc/passwd (read once), or undefined. */
export async function userName(uid: number): Promise<string | undefined> {
  if (uid === ownUid()) return ownName();
  passwd ??= readFile('/etc/passwd', 'utf8').then(
    (text) => new Map(text.split('\n').map((l) => l.split(':')).filter((f) => f.length > 2).map((f) => [Number(f[2]), f[0]] as [number, string])),
    () => new Map<number, string>(),
  );
  return (await passwd).get(uid);
}

/**
 * The verdict on one accepted connection: `gone` when its client closed it before it could be
 * checked (it is closed too, never bridged: a closed socket's owner cannot be told).
 */
export type Admission = 'allowed' | 'refused' | 'gone';

/**
 * The same-user check for one listener. `admit()` says whether a connection may be bridged; the
 * first refusal of each uid and the first failed lookup are logged, every refusal is counted.
 */
export class SameUserGate {
  private readonly uid = ownUid();
  private readonly loggedUids = new Set<number>();
  private loggedUnknown = false;

  constructor(private readonly logger: Logger, private readonly onRefused: () => void) {}

  /**
   * Looks the listener up once: the check is only offered where the kernel lists our own sockets
   * (not where /proc is missing or unreadable, or a compatibility layer leaves it empty).
   */
  static async protectionFor(config: ListenPart, server: net.Server): Promise<Protection> {
    const expected = expectedProtection(config);
    if (expected.kind !== 'same-user') return expected;
    const a = server.address();
    if (!a || typeof a !== 'object') return { kind: 'none', reason: 'the listener has no TCP address to check' };
    if (await listsListener(a.address, a.port)) return expected;
    return { kind: 'none', reason: '/proc/net/tcp does not list this process\'s sockets here (unreadable, or not a real Linux kernel), so the owner of a connection cannot be checked: every local process can connect' };
  }

  async admit(socket: net.Socket): Promise<Admission> {
    let owner: number | 'gone' | undefined;
    try {
      owner = await peerOwner(socket);
      // The client's entry appears when its connect() completes; one more look covers a reader
      // that raced the kernel's table.
      if (owner === undefined) {
        await new Promise((r) => setImmediate(r));
        owner = await peerOwner(socket);
      }
    } catch (e) {
      owner = undefined;
      if (!this.loggedUnknown) this.logger.warn(`cannot read /proc/net/tcp to check who connected (${(e as Error).message}); such connections are refused`);
      this.loggedUnknown = true;
    }
    if (owner === 'gone') return 'gone';
    if (owner === this.uid) return 'allowed';
    if (owner === undefined) {
      // A client that reset the connection is gone from the table, and so is our end of it; if
      // our end is still there, the client is somewhere the table does not show: refused.
      if (socket.destroyed || !(await ownEndListed(socket).catch(() => true))) return 'gone';
      this.onRefused();
      if (!this.loggedUnknown) this.logger.warn(`refused ${socket.remoteAddress}:${socket.remotePort}: its owner is not listed in /proc/net/tcp, so it cannot be shown to be you`);
      this.loggedUnknown = true;
      return 'refused';
    }
    this.onRefused();
    if (!this.loggedUids.has(owner)) {
      this.loggedUids.add(owner);
      const name = await userName(owner);
      this.logger.warn(`refused a connection from another local user: uid ${owner}${name ? ` (${name})` : ''}; only ${ownName()} (uid ${this.uid}) may use this tunnel. Set "allowOtherUsers": true to let other users in (further refusals of this user are counted, not logged)`);
    }
    return 'refused';
  }
}
