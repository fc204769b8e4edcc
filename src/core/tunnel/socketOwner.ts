/**
 * Who owns the other end of a loopback TCP connection, on Linux: the kernel lists every socket of
 * this network namespace in /proc/net/tcp (IPv4) and /proc/net/tcp6 (IPv6, IPv4-mapped included)
 * with its owner's uid. The client's socket is the entry whose *local* address is our accepted
 * socket's remote address and whose remote address is ours (socketTable.ts spells and finds it).
 *
 * Cheap on purpose, since it runs per connection, before the dial (bench/ownerLookup.ts measures
 * it; bench/README.md, "2026-12-02 owner lookup", has the numbers and why each choice):
 * - Synchronous reads into a reused buffer, scanned as bytes. The kernel hands out the table one
 *   page (4 KiB, 27 lines) per read(2), so an asynchronous read pays a threadpool round trip per
 *   page: 40+ ms for a table of 14k TIME_WAIT sockets where the same reads made synchronously take
 *   26 ms, nearly all of it the kernel's own formatting.
 * - Reading stops at the last line its lookups need; the other file is read only when the first
 *   has no match; lookups share reads (see `scan`), so a burst of connections does not start a
 *   read each, which on a busy table would all crawl along together.
 * - At most READS_PER_TURN pages per turn of the event loop, so that a long table does not stall
 *   the traffic of the tunnel's other connections (or the editor's main thread) for its whole read.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { SocketEntry, TableFile, tablePatterns, TableScan } from './socketTable';

export type { SocketEntry } from './socketTable';

/** Pages read before letting the event loop run: ~64 KiB, ~430 lines, about a millisecond of kernel time. */
const READS_PER_TURN = 16;
const BUFFER_BYTES = 64 * 1024;
/** Buffers of finished reads, for the next ones (a few reads can be under way at once). */
const spareBuffers: Buffer[] = [];

interface Waiting {
  pattern: string;
  resolve(entry: SocketEntry | undefined): void;
  reject(error: unknown): void;
}

/** One read of a file under way, and the lookups it serves. */
interface TableRead {
  /** Undefined until the read starts (it waits for the rest of the turn's lookups). */
  scan?: TableScan;
  /** Lookups there from the first page: their answer is final when the read ends. */
  fromStart: { waiting: Waiting; index: number }[];
  /** Lookups that joined part-way: found, or carried to the next read (their line may be behind). */
  joined: { waiting: Waiting; index: number }[];
}

/** The read under way of each file. */
const reading = new Map<TableFile, TableRead>();

/**
 * The entry on the line of `file` that holds `pattern`. Lookups share reads: those of one turn of
 * the event loop start one together, and a lookup made while a read is under way joins it (a burst
 * of connections costs a read or two, not one each); a line it finds there is as current as any,
 * and if the rest of that read does not have it, the next read looks again from the start.
 */
function scan(file: TableFile, pattern: string): Promise<SocketEntry | undefined> {
  return new Promise((resolve, reject) => join(file, { pattern, resolve, reject }));
}

function join(file: TableFile, waiting: Waiting): void {
  const current = reading.get(file);
  if (!current) {
    const read: TableRead = { fromStart: [{ waiting, index: 0 }], joined: [] };
    reading.set(file, read);
    // setImmediate, not a microtask: the connections of one burst are accepted in separate
    // callbacks of the same poll phase, and a microtask would run between them.
    setImmediate(() => readTable(file, read));
  } else if (!current.scan) current.fromStart.push({ waiting, index: current.fromStart.length });
  else current.joined.push({ waiting, index: current.scan.want(waiting.pattern) });
}

/** Reads `file` a few pages per turn until every pattern has its line (or the file ends). */
function readTable(file: TableFile, read: TableRead): void {
  const finish = (error?: unknown) => {
    reading.delete(file);
    const entries = read.scan?.entries ?? [];
    for (const { waiting, index } of read.fromStart) {
      if (error === undefined) waiting.resolve(entries[index]);
      else waiting.reject(error);
    }
    for (const { waiting, index } of read.joined) {
      if (error !== undefined) waiting.reject(error);
      else if (entries[index]) waiting.resolve(entries[index]);
      else join(file, waiting);
    }
  };
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    return finish(e);
  }
  const buffer = spareBuffers.pop() ?? Buffer.allocUnsafe(BUFFER_BYTES);
  const table = (read.scan = new TableScan(read.fromStart.map((f) => f.waiting.pattern), buffer));
  const turn = () => {
    let error: unknown;
    try {
      for (let i = 0; i < READS_PER_TURN && !table.done; i++) {
        const { offset, length } = table.space();
        table.advance(fs.readSync(fd, buffer, offset, length, null));
      }
      if (!table.done) return void setImmediate(turn);
    } catch (e) {
      error = e;
    }
    try {
      fs.closeSync(fd);
    } catch {
      // Nothing to do about a procfs file that will not close; the answer stands.
    }
    if (spareBuffers.length < 4) spareBuffers.push(buffer);
    finish(error);
  };
  turn();
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
