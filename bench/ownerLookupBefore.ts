// The owner lookup as it was before 2026-12-02 (src/core/tunnel/socketOwner.ts at 472b1bf), kept
// verbatim so that bench/ownerLookup.ts can measure it against the current one in one run.
/**
 * Who owns the other end of a loopback TCP connection, on Linux: the kernel lists every socket of
 * this network namespace in /proc/net/tcp (IPv4) and /proc/net/tcp6 (IPv6, IPv4-mapped included)
 * with its owner's uid. The client's socket is the entry whose *local* address is our accepted
 * socket's remote address and whose remote address is ours. Addresses are printed as the kernel's
 * 32-bit words in host byte order (127.0.0.1 is `0100007F` on x86), ports as 4 hex digits.
 *
 * Cheap on purpose, since it runs per connection: the file is read in chunks and reading stops at
 * the matching line; the other file is read only when the first has no match; the lookups of
 * connections accepted together (a pool opening ten) share one read.
 */
import { open } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';

const CHUNK = 64 * 1024;
const LITTLE_ENDIAN = os.endianness() === 'LE';
/** What the kernel says about one socket: its state (hex, `01` ESTABLISHED, `0A` LISTEN) and owner. */
export interface SocketEntry {
  state: string;
  uid: number;
  /**
   * Whether a process still holds the socket (its inode is not 0). A socket its process has
   * closed (orphaned, or in TIME_WAIT) is listed with uid 0, whoever made it: its owner is unknown.
   */
  held: boolean;
}

/** The 16 bytes of an IPv6 address, or the 4 of an IPv4 one (`::ffff:a.b.c.d` gives its 4). */
function addressBytes(address: string): Buffer | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const v4 = mapped ? mapped[1] : net.isIPv4(address) ? address : undefined;
  if (v4) return Buffer.from(v4.split('.').map(Number));
  if (!net.isIPv6(address)) return undefined;
  const [head, tail = ''] = address.split('::');
  const words = (s: string) => (s ? s.split(':') : []);
  const h = words(head);
  const t = words(tail);
  const all = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

/** The kernel's hex for an address: each 32-bit word in host byte order. */
function kernelHex(bytes: Buffer): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4) {
    const word = LITTLE_ENDIAN ? bytes.readUInt32LE(i) : bytes.readUInt32BE(i);
    s += word.toString(16).toUpperCase().padStart(8, '0');
  }
  return s;
}

function port(p: number): string {
  return p.toString(16).toUpperCase().padStart(4, '0');
}

function v6Of(bytes: Buffer): Buffer {
  return bytes.length === 16 ? bytes : Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), bytes]);
}

/** `local remote` as the file prints them, per file where such an entry can be. */
function patterns(local: Buffer, localPort: number, remote: Buffer, remotePort: number): { file: string; pattern: string }[] {
  const out: { file: string; pattern: string }[] = [];
  // An IPv4 peer is an IPv4 socket (tcp) or a dual-stack IPv6 one connected to a mapped address (tcp6).
  if (local.length === 4 && remote.length === 4) out.push({ file: '/proc/net/tcp', pattern: `${kernelHex(local)}:${port(localPort)} ${kernelHex(remote)}:${port(remotePort)}` });
  out.push({ file: '/proc/net/tcp6', pattern: `${kernelHex(v6Of(local))}:${port(localPort)} ${kernelHex(v6Of(remote))}:${port(remotePort)}` });
  return out;
}

interface Waiting {
  pattern: string;
  resolve(entry: SocketEntry | undefined): void;
  reject(error: unknown): void;
}

/** Lookups waiting for the next read of each file: a burst of connections shares one read. */
const queued = new Map<string, Waiting[]>();

/** The state and uid on the line of `file` that holds `pattern`, read with the other lookups of this turn. */
function scan(file: string, pattern: string): Promise<SocketEntry | undefined> {
  return new Promise((resolve, reject) => {
    let waiting = queued.get(file);
    if (!waiting) {
      const batch: Waiting[] = (waiting = []);
      queued.set(file, batch);
      setImmediate(() => {
        queued.delete(file);
        void scanFor(file, batch);
      });
    }
    waiting.push({ pattern, resolve, reject });
  });
}

/** Reads `file` chunk by chunk until every pattern has its line (or the file ends). */
async function scanFor(file: string, waiting: Waiting[]): Promise<void> {
  let pending = waiting;
  try {
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(CHUNK);
      let carry = '';
      while (pending.length > 0) {
        const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
        if (bytesRead === 0) break;
        const text = carry + buffer.toString('latin1', 0, bytesRead);
        const lastNewline = text.lastIndexOf('\n');
        const complete = lastNewline < 0 ? '' : text.slice(0, lastNewline);
        carry = lastNewline < 0 ? text : text.slice(lastNewline + 1);
        pending = pending.filter((w) => {
          const at = complete.indexOf(w.pattern);
          if (at < 0) return true;
          const end = complete.indexOf('\n', at);
          // After `local remote`: st, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, …
          const fields = complete.slice(at + w.pattern.length, end < 0 ? undefined : end).trim().split(/\s+/);
          // After `local remote`: st, tx:rx, tr:when, retrnsmt, uid, timeout, inode.
          const uid = Number(fields[4]);
          w.resolve(Number.isInteger(uid) ? { state: fields[0], uid, held: fields[6] !== undefined && fields[6] !== '0' } : undefined);
          return false;
        });
      }
    } finally {
      await handle.close();
    }
  } catch (e) {
    for (const w of pending) w.reject(e);
    return;
  }
  for (const w of pending) w.resolve(undefined);
}

/**
 * The entry of the socket at `local` connected to `remote` (both as that socket sees them), or
 * undefined when neither file lists it. Throws when the files cannot be read.
 */
export async function findSocket(local: { address: string; port: number }, remote: { address: string; port: number }): Promise<SocketEntry | undefined> {
  const l = addressBytes(local.address);
  const r = addressBytes(remote.address);
  if (!l || !r) return undefined;
  for (const { file, pattern } of patterns(l, local.port, r, remote.port)) {
    const found = await scan(file, pattern);
    if (found) return found;
  }
  return undefined;
}

/**
 * The owner of the client end of an accepted socket: a uid, `gone` (its process has closed it, so
 * its owner can no longer be told), or undefined (not listed: reset and gone, or never listed).
 */
export async function peerOwner(socket: net.Socket): Promise<number | 'gone' | undefined> {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (!remoteAddress || !remotePort || !localAddress || !localPort) return 'gone';
  const entry = await findSocket({ address: remoteAddress, port: remotePort }, { address: localAddress, port: localPort });
  if (!entry) return undefined;
  return entry.held ? entry.uid : 'gone';
}

/** Whether our end of an accepted connection is still listed: not after the client reset it. */
export async function ownEndListed(socket: net.Socket): Promise<boolean> {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (!remoteAddress || !remotePort || !localAddress || !localPort) return false;
  return (await findSocket({ address: localAddress, port: localPort }, { address: remoteAddress, port: remotePort })) !== undefined;
}

/** Whether the kernel lists our own listening socket: the check works in this namespace and /proc. */
export async function listsListener(address: string, listenPort: number): Promise<boolean> {
  const any = net.isIPv6(address) && !/^::ffff:/i.test(address) ? '::' : '0.0.0.0';
  try {
    return (await findSocket({ address, port: listenPort }, { address: any, port: 0 }))?.state === '0A';
  } catch {
    return false;
  }
}
