/**
 * The kernel's TCP socket table (/proc/net/tcp, /proc/net/tcp6) as bytes: how an entry's
 * `local remote` columns are spelled, and a scanner that finds the lines of a few sockets in the
 * table as it is read, without turning the table into strings. Under connection churn the table
 * holds tens of thousands of TIME_WAIT lines (150 bytes each) and is read once per accepted
 * connection, so the scan works on the read buffer itself and stops at the last line it needs.
 *
 * Addresses are printed as the kernel's 32-bit words in host byte order (127.0.0.1 is `0100007F`
 * on x86), ports as 4 hex digits; IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) appear only in tcp6.
 */
import * as net from 'node:net';
import * as os from 'node:os';

const LITTLE_ENDIAN = os.endianness() === 'LE';
const NEWLINE = 0x0a;
const SPACE = 0x20;
const COLON = 0x3a;

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
export function addressBytes(address: string): Buffer | undefined {
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
export function kernelHex(bytes: Buffer, littleEndian = LITTLE_ENDIAN): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4) {
    const word = littleEndian ? bytes.readUInt32LE(i) : bytes.readUInt32BE(i);
    s += word.toString(16).toUpperCase().padStart(8, '0');
  }
  return s;
}

function hexPort(p: number): string {
  return p.toString(16).toUpperCase().padStart(4, '0');
}

function v6Of(bytes: Buffer): Buffer {
  return bytes.length === 16 ? bytes : Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), bytes]);
}

export type TableFile = '/proc/net/tcp' | '/proc/net/tcp6';

/**
 * `local remote` as the table prints them, per file where such an entry can be, in the order to
 * read them: an IPv4 peer is an IPv4 socket (tcp) or, less often, a dual-stack IPv6 socket
 * connected to a mapped address (tcp6); an IPv6 peer is only in tcp6.
 */
export function tablePatterns(local: { address: string; port: number }, remote: { address: string; port: number }): { file: TableFile; pattern: string }[] {
  const l = addressBytes(local.address);
  const r = addressBytes(remote.address);
  if (!l || !r) return [];
  const out: { file: TableFile; pattern: string }[] = [];
  if (l.length === 4 && r.length === 4) out.push({ file: '/proc/net/tcp', pattern: `${kernelHex(l)}:${hexPort(local.port)} ${kernelHex(r)}:${hexPort(remote.port)}` });
  out.push({ file: '/proc/net/tcp6', pattern: `${kernelHex(v6Of(l))}:${hexPort(local.port)} ${kernelHex(v6Of(r))}:${hexPort(remote.port)}` });
  return out;
}

/** The entry on one table line, from just after its `local remote` columns to the line's end. */
function entryAfter(buffer: Buffer, start: number, end: number): SocketEntry | undefined {
  // st, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout, inode.
  const fields = buffer.toString('latin1', start, end).trim().split(/\s+/);
  const uid = Number(fields[4]);
  if (!Number.isInteger(uid) || fields[0] === undefined) return undefined;
  return { state: fields[0], uid, held: fields[6] !== undefined && fields[6] !== '0' };
}

/**
 * Finds the lines of a few `local remote` patterns in a table fed to it chunk by chunk: read into
 * `space()`, then `advance(bytesRead)` (0 at the end of the file). Only complete lines are
 * searched; a line cut by a read is kept for the next one. A pattern matches only where a line's
 * columns start (after the slot number's `: `), so it cannot be taken from another column.
 * Patterns can be added while the table is read (`want`): they are looked for only in what is read
 * from then on (a line read earlier, even in part, may be about an earlier socket).
 */
export class TableScan {
  private filled = 0;
  /** `from`: matches before this offset in the buffer were read before the pattern was wanted. */
  private wanted: { pattern: Buffer; index: number; from: number }[] = [];
  private readonly found: (SocketEntry | undefined)[] = [];
  private ended = false;

  /** `buffer` is reused for the whole read; it must hold at least two lines (a line is 150-180 bytes). */
  constructor(patterns: readonly string[], private readonly buffer: Buffer) {
    for (const p of patterns) this.want(p);
  }

  /** Looks for `pattern` in the rest of the table; returns its index in `entries`. */
  want(pattern: string): number {
    const index = this.found.length;
    this.found.push(undefined);
    this.wanted.push({ pattern: Buffer.from(pattern, 'latin1'), index, from: this.filled });
    return index;
  }

  /** Whether every pattern has its line, or the table has ended. */
  get done(): boolean {
    return this.ended || this.wanted.length === 0;
  }

  /** Whether the table has been read to its end. */
  get atEnd(): boolean {
    return this.ended;
  }

  /** Whether part of a line is held for the next read (only if a read ended inside a line). */
  get holdsPartialLine(): boolean {
    return this.filled > 0;
  }

  /** The entry for each pattern, in the order wanted (undefined: not in the table read so far). */
  get entries(): readonly (SocketEntry | undefined)[] {
    return this.found;
  }

  /** Where the next read goes. */
  space(): { buffer: Buffer; offset: number; length: number } {
    return { buffer: this.buffer, offset: this.filled, length: this.buffer.length - this.filled };
  }

  /** Takes `bytesRead` new bytes at `space().offset` (0: the table ended); returns `done`. */
  advance(bytesRead: number): boolean {
    if (this.ended) return true;
    if (bytesRead <= 0) {
      // A last line without its newline is still a line.
      if (this.filled > 0) this.search(this.filled);
      this.ended = true;
      return true;
    }
    this.filled += bytesRead;
    const lastNewline = this.buffer.lastIndexOf(NEWLINE, this.filled - 1);
    if (lastNewline < 0) {
      // No complete line yet: a line longer than the buffer is not a table line; drop it.
      if (this.filled === this.buffer.length) this.drop(this.filled);
      return this.done;
    }
    this.search(lastNewline);
    this.drop(lastNewline + 1);
    return this.done;
  }

  /** Forgets the first `n` bytes of the buffer, keeping the rest at its start. */
  private drop(n: number): void {
    this.buffer.copyWithin(0, n, this.filled);
    this.filled -= n;
    for (const w of this.wanted) w.from = Math.max(0, w.from - n);
  }

  /** Looks for every wanted pattern in the complete lines before `end`. */
  private search(end: number): void {
    const lines = this.buffer.subarray(0, end);
    this.wanted = this.wanted.filter(({ pattern, index, from: start }) => {
      for (let from = start; ; ) {
        const at = lines.indexOf(pattern, from);
        if (at < 0) return true;
        from = at + 1;
        const after = at + pattern.length;
        if (at < 2 || lines[at - 1] !== SPACE || lines[at - 2] !== COLON || lines[after] !== SPACE) continue;
        const lineEnd = lines.indexOf(NEWLINE, after);
        this.found[index] = entryAfter(lines, after, lineEnd < 0 ? end : lineEnd);
        return false;
      }
    });
  }
}
