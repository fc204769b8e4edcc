/**
 * Who owns the other end of a loopback TCP connection, on Linux: the kernel lists every socket of
 * this network namespace in /proc/net/tcp (IPv4) and /proc/net/tcp6 (IPv6, IPv4-mapped included)
 * with its owner's uid. The client's socket is the entry whose *local* address is our accepted
 * socket's remote address and whose remote address is ours (socketTable.ts spells and finds it).
 *
 * Cheap on purpose, since it runs per connection, before the dial (bench/ownerLookup.ts measures
 * it; bench/README.md, "2026-12-02 owner lookup", has the numbers and why each choice). Listing a
 * socket costs the kernel about 2 µs, and under churn the table lists tens of thousands of
 * TIME_WAIT sockets, so what matters is how much of it a lookup makes the kernel list:
 * - The descriptor stays open and each lookup goes on from where the last one stopped, which is
 *   usually just before the next client's line (TableCursor says why); a lookup goes back to the
 *   start when nothing turns up soon after where the last line was found, or at the table's end.
 * - Synchronous reads into a reused buffer, scanned as bytes. The kernel hands out one page (4 KiB,
 *   27 lines) per read(2), so an asynchronous read pays a threadpool round trip per page (41-45 ms
 *   against 26 ms to read a table of 14k TIME_WAIT sockets).
 * - At most BYTES_PER_TURN per turn of the event loop, so that a long read does not stall
 *   the tunnel's other connections (or the editor's main thread) for its whole length.
 * - The other file is read only when the first has no match; the lookups of a burst of
 *   connections share the reads.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { SocketEntry, TableFile, tablePatterns, TableScan } from './socketTable';

export type { SocketEntry } from './socketTable';

/** Read before letting the event loop run: ~430 lines, about a millisecond of kernel time. */
const BYTES_PER_TURN = 64 * 1024;
/**
 * /proc/net/tcp pads every line to 150 bytes. Reading one line per read(2) leaves the kernel's
 * place exactly after the line found, where the next client's line is a line or two later; ten
 * lines per read cost no more than a page per read (the kernel's listing dominates: 24 ms either
 * way for 14k lines, 37 ms one line at a time), so a line at a time is kept for near where the
 * last line was found, or where the read resumes.
 */
const TCP_LINE = 150;
const NEAR_BYTES = 64 * TCP_LINE;
const FAR_READ = 10 * TCP_LINE;
/**
 * Larger than the kernel's page (4 KiB, 64 KiB on some arm64 and ppc64 kernels), so that a page
 * read (tcp6) takes all the kernel has formatted for it. The shorter reads of tcp take whole
 * 150-byte lines; one that ends inside a line (the kernel keeps the rest, formatted for that
 * read) is marked `cut`, and no lookup joins until a read has moved past it.
 */
const BUFFER_BYTES = 128 * 1024;

interface Waiting {
  pattern: string;
  resolve(entry: SocketEntry | undefined): void;
  reject(error: unknown): void;
}

/**
 * One file of the kernel's table, read through one descriptor kept open between lookups, so that
 * each read goes on from where the last stopped. The kernel keeps its place in the table with the
 * descriptor (tcp_seq_start resumes at the bucket it stopped in) and lists the table by hash
 * bucket, and it hashes a client's local port linearly: the clients of one listener sit together,
 * one after the other in the order their ports were handed out. So the next client of a tunnel is
 * usually a few lines after the last one found, and a lookup that starts there finds it in a page
 * where one from the start of the table walks up to all of it (tens of milliseconds under churn).
 *
 * The kernel's place after a read is the socket listed next at that time, so a client whose
 * bucket was empty until just after is behind it: when nothing turns up within NEAR_BYTES of the
 * last line found, the lookup goes back to the start (costing what a lookup from the start costs).
 *
 * A lookup joins the read where it is; what it finds was read after it started, so it is current.
 * A lookup that reaches the end of the table without its line is looked for once more from the
 * start, and only a lookup that has seen the whole table from its start without its line is
 * answered "not listed". Lookups of the same turn of the event loop join together.
 */
class TableCursor {
  private fd: number | undefined;
  private scan: TableScan | undefined;
  private readonly buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  /** Nothing read since the descriptor was opened: lookups that join now see the whole table. */
  private atStart = true;
  /** Bytes read since the descriptor was opened, and up to the end of the last line found. */
  private offset = 0;
  private lastFound = -1;
  /** Whether this pass resumed where a pause left it, and where: lines near it are read one by one. */
  private resumed = false;
  private resumedAt = 0;
  /** The last read ended inside a line: the kernel holds its rest, formatted for that read. */
  private cut = false;
  /** Lookups being looked for, and whether this pass over the table began with them. */
  private outstanding: { waiting: Waiting; index: number; wholeTable: boolean }[] = [];
  private queued: Waiting[] = [];
  private running = false;

  constructor(private readonly file: TableFile) {}

  lookup(pattern: string): Promise<SocketEntry | undefined> {
    return new Promise((resolve, reject) => {
      this.queued.push({ pattern, resolve, reject });
      if (this.running) return;
      this.running = true;
      // setImmediate, not a microtask: the connections of one burst are accepted in separate
      // callbacks of the same poll phase, and a microtask would run between them.
      setImmediate(() => this.turn());
    });
  }

  /** How much to ask of the next read(2). */
  private readLength(space: number): number {
    if (this.file !== '/proc/net/tcp') return space;
    const near = (this.resumed && this.offset - this.resumedAt < NEAR_BYTES) || (this.lastFound >= 0 && Math.abs(this.offset - this.lastFound) < NEAR_BYTES);
    return Math.min(space, near ? TCP_LINE : FAR_READ);
  }

  /** Reads up to BYTES_PER_TURN for the lookups waiting, then lets the event loop run. */
  private turn(): void {
    try {
      this.takeQueued();
      for (let read = 0; read < BYTES_PER_TURN && this.outstanding.length > 0; ) {
        const scan = this.scan!;
        const { offset, length } = scan.space();
        const n = fs.readSync(this.fd!, this.buffer, offset, this.readLength(length), null);
        scan.advance(n);
        read += n;
        this.offset += n;
        this.cut = n > 0 && this.buffer[offset + n - 1] !== 0x0a;
        this.atStart = false;
        this.settleFound();
        if (scan.atEnd) this.endOfTable();
        // Nothing found lately, so not just after where the last one was (a burst's clients are
        // found one after another): from the start, as cheap as it was before.
        else if (this.resumed && this.outstanding.length > 0 && this.offset - Math.max(this.resumedAt, this.lastFound) >= NEAR_BYTES) this.startAgain();
        this.takeQueued();
      }
    } catch (e) {
      this.close();
      for (const w of [...this.outstanding.map((o) => o.waiting), ...this.queued]) w.reject(e);
      this.outstanding = [];
      this.queued = [];
    }
    if (this.outstanding.length > 0 || this.queued.length > 0) {
      setImmediate(() => this.turn());
      return;
    }
    this.running = false;
    // Idle, with the descriptor where the last lookup was found. A line cut by the last read was
    // read before whatever lookup comes next: then start afresh; else forget the answers given.
    if (this.cut || this.scan?.holdsPartialLine) this.close();
    else if (this.scan) {
      this.scan = new TableScan([], this.buffer);
      this.resumed = true;
      this.resumedAt = this.offset;
    }
  }

  private takeQueued(): void {
    if (this.queued.length === 0) return;
    if (this.cut) {
      // What the next read returns first was formatted for the last one: a lookup joins after it.
      if (this.outstanding.length > 0) return;
      this.close();
    }
    if (this.fd === undefined) {
      this.fd = fs.openSync(this.file, 'r');
      this.scan = new TableScan([], this.buffer);
      this.atStart = true;
      this.offset = 0;
      this.resumed = false;
      this.cut = false;
    }
    for (const waiting of this.queued) this.outstanding.push({ waiting, index: this.scan!.want(waiting.pattern), wholeTable: this.atStart });
    this.queued = [];
  }

  private settleFound(): void {
    const entries = this.scan!.entries;
    this.outstanding = this.outstanding.filter(({ waiting, index }) => {
      const entry = entries[index];
      if (entry) {
        this.lastFound = this.offset;
        waiting.resolve(entry);
      }
      return !entry;
    });
  }

  /** The table has ended: answers those that saw all of it, starts again for the others. */
  private endOfTable(): void {
    this.outstanding = this.outstanding.filter((o) => {
      if (o.wholeTable) o.waiting.resolve(undefined);
      return !o.wholeTable;
    });
    this.startAgain();
  }

  /** Looks for the outstanding lookups again from the start of the table. */
  private startAgain(): void {
    this.queued.unshift(...this.outstanding.map((o) => o.waiting));
    this.outstanding = [];
    this.close();
  }

  private close(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Nothing to do about a procfs file that will not close.
    }
    this.fd = undefined;
    this.scan = undefined;
  }
}

const cursors = new Map<TableFile, TableCursor>();

/** The entry on the line of `file` that holds `pattern` (undefined: not listed). */
function scan(file: TableFile, pattern: string): Promise<SocketEntry | undefined> {
  let cursor = cursors.get(file);
  if (!cursor) cursors.set(file, (cursor = new TableCursor(file)));
  return cursor.lookup(pattern);
}

/**
 * The entry of the socket at `local` connected to `remote` (both as that socket sees them), or
 * undefined when neither file lists it. Throws when the files cannot be read.
 */
export async function findSocket(local: { address: string; port: number }, remote: { address: string; port: number }): Promise<SocketEntry | undefined> {
  for (const { file, pattern } of tablePatterns(local, remote)) {
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
