/**
 * The byte scanner behind the same-user check (socketTable.ts): it finds a socket's line in the
 * kernel's table text as it is read, in chunks of any size, without taking a pattern from the
 * wrong column. Tables here are lines in the kernel's own layout (copied from /proc/net/tcp and
 * tcp6 of a Linux 6.18 machine); the real table is read by test/unit/tunnel-same-user.test.ts.
 */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { describe, test } from 'node:test';
import { kernelHex, SocketEntry, tablePatterns, TableScan } from '../../src/core/tunnel/socketTable';

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const TCP6_HEADER = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

/** A table line as the kernel pads it (IPv4 lines are 149 characters and a newline). */
function line(slot: number, local: string, remote: string, state: string, uid: number, inode: number): string {
  const text = `${String(slot).padStart(4)}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000 ${String(uid).padStart(5)}        0 ${inode} 1 0000000000000000 20 0 0 10 -1`;
  return text.padEnd(149);
}

function timeWait(slot: number, port: number): string {
  const p = port.toString(16).toUpperCase().padStart(4, '0');
  return `${String(slot).padStart(4)}: 0100007F:${p} 0100007F:9C40 06 00000000:00000000 03:0000090A 00000000     0        0 0 3 00000000c3d2a982`.padEnd(149);
}

/**
 * Feeds `table` to a scan for `patterns`, each read returning at most the next of `reads` bytes
 * (cycled), as a real read(2) may; returns the entries and how many bytes were fed before it stopped.
 */
function scanText(table: string, patterns: string[], reads: number[] = [4050], bufferBytes = 64 * 1024): { entries: readonly (SocketEntry | undefined)[]; fed: number } {
  const bytes = Buffer.from(table, 'latin1');
  const scan = new TableScan(patterns, Buffer.alloc(bufferBytes));
  let fed = 0;
  for (let i = 0; !scan.done; i++) {
    const { buffer, offset, length } = scan.space();
    const n = Math.min(length, reads[i % reads.length], bytes.length - fed);
    bytes.copy(buffer, offset, fed, fed + n);
    fed += n;
    scan.advance(n);
  }
  return { entries: scan.entries, fed };
}

const LE = os.endianness() === 'LE';
const loop4 = LE ? '0100007F' : '7F000001';

describe('the kernel table scanner', () => {
  test('addresses are spelled as the kernel prints them: 32-bit words in host byte order', () => {
    assert.equal(kernelHex(Buffer.from([127, 0, 0, 1]), true), '0100007F');
    assert.equal(kernelHex(Buffer.from([127, 0, 0, 1]), false), '7F000001');
    const v6loop = Buffer.alloc(16);
    v6loop[15] = 1;
    assert.equal(kernelHex(v6loop, true), '00000000000000000000000001000000');
    // 40000 = 0x9C40, 15432 = 0x3C48
    assert.deepEqual(tablePatterns({ address: '127.0.0.1', port: 40000 }, { address: '127.0.0.1', port: 15432 }), [
      { file: '/proc/net/tcp', pattern: `${loop4}:9C40 ${loop4}:3C48` },
      { file: '/proc/net/tcp6', pattern: `0000000000000000${LE ? 'FFFF0000' : '0000FFFF'}${loop4}:9C40 0000000000000000${LE ? 'FFFF0000' : '0000FFFF'}${loop4}:3C48` },
    ]);
    assert.deepEqual(tablePatterns({ address: '::1', port: 1 }, { address: '::1', port: 2 }).map((p) => p.file), ['/proc/net/tcp6'], 'an IPv6 peer is only in tcp6');
    assert.deepEqual(tablePatterns({ address: 'not an address', port: 1 }, { address: '::1', port: 2 }), []);
  });

  test('IPv4: the client end is found with its state, uid and whether a process holds it', () => {
    const [{ pattern }] = tablePatterns({ address: '127.0.0.1', port: 40000 }, { address: '127.0.0.1', port: 15432 });
    const table = [
      TCP_HEADER,
      line(0, `${loop4}:3C48`, '00000000:0000', '0A', 1000, 2140353),
      line(1, `${loop4}:3C48`, `${loop4}:9C40`, '01', 1000, 2140358), // our end, not the client's
      timeWait(2, 40001),
      line(3, `${loop4}:9C40`, `${loop4}:3C48`, '01', 1000, 2140357),
      '',
    ].join('\n');
    assert.deepEqual(scanText(table, [pattern]).entries, [{ state: '01', uid: 1000, held: true }]);
  });

  test('IPv6 and IPv4-mapped peers are found in tcp6', () => {
    const v6 = tablePatterns({ address: '::1', port: 34584 }, { address: '::1', port: 44887 })[0];
    const mapped = tablePatterns({ address: '::ffff:127.0.0.1', port: 47784 }, { address: '::ffff:127.0.0.1', port: 44887 });
    assert.equal(mapped[0].file, '/proc/net/tcp', 'a mapped peer is looked for in tcp first (an IPv4 socket)');
    assert.equal(mapped[1].file, '/proc/net/tcp6');
    const table = [
      TCP6_HEADER,
      line(0, '00000000000000000000000000000000:AF57', '00000000000000000000000000000000:0000', '0A', 0, 2140354),
      line(1, mapped[1].pattern.split(' ')[0], mapped[1].pattern.split(' ')[1], '01', 1001, 2140360),
      line(2, v6.pattern.split(' ')[0], v6.pattern.split(' ')[1], '01', 1002, 2140361),
      '',
    ].join('\n');
    assert.deepEqual(scanText(table, [v6.pattern, mapped[1].pattern]).entries, [
      { state: '01', uid: 1002, held: true },
      { state: '01', uid: 1001, held: true },
    ]);
  });

  test('a socket its process has closed is listed with uid 0 and no inode: not held, its owner unknown', () => {
    const table = [TCP_HEADER, timeWait(0, 40000), ''].join('\n');
    assert.deepEqual(scanText(table, [`${loop4}:9C40 ${loop4}:9C40`]).entries, [{ state: '06', uid: 0, held: false }]);
  });

  test('the match at the end of a large table (20,000 TIME_WAIT lines before it), in page-sized reads', () => {
    const pattern = `${loop4}:9C40 ${loop4}:3C48`;
    const lines = [TCP_HEADER];
    for (let i = 0; i < 20_000; i++) lines.push(timeWait(i, 1024 + i));
    lines.push(line(20_000, `${loop4}:9C40`, `${loop4}:3C48`, '01', 1000, 99));
    const table = lines.join('\n') + '\n';
    const { entries, fed } = scanText(table, [pattern]);
    assert.deepEqual(entries, [{ state: '01', uid: 1000, held: true }]);
    assert.equal(fed, table.length);
    // And without the closing newline: the last line is still a line.
    assert.deepEqual(scanText(table.slice(0, -1), [pattern]).entries, [{ state: '01', uid: 1000, held: true }]);
  });

  test('reads that cut lines (and the pattern) anywhere find the same entry', () => {
    const pattern = `${loop4}:9C40 ${loop4}:3C48`;
    const lines = [TCP_HEADER];
    for (let i = 0; i < 40; i++) lines.push(timeWait(i, 2000 + i));
    lines.push(line(40, `${loop4}:9C40`, `${loop4}:3C48`, '01', 1000, 99));
    for (let i = 41; i < 60; i++) lines.push(timeWait(i, 2000 + i));
    const table = lines.join('\n') + '\n';
    const matchAt = table.indexOf(pattern);
    // Cut exactly inside the pattern, inside the uid, at the newline, and at every size from 1 byte.
    const cuts = [[matchAt + 5, 4050], [matchAt + pattern.length + 40, 4050], [matchAt + 149 - 4 + 1, 4050]];
    for (const reads of [...cuts, ...Array.from({ length: 160 }, (_, i) => [i + 1])]) {
      assert.deepEqual(scanText(table, [pattern], reads).entries, [{ state: '01', uid: 1000, held: true }], `reads of ${reads.join(', ')} bytes`);
    }
    // A buffer of two lines is enough.
    assert.deepEqual(scanText(table, [pattern], [4050], 400).entries, [{ state: '01', uid: 1000, held: true }]);
  });

  test('reading stops at the line of the last pattern it needs', () => {
    const lines = [TCP_HEADER];
    for (let i = 0; i < 1000; i++) lines.push(timeWait(i, 3000 + i));
    const table = lines.join('\n') + '\n';
    const early = `${loop4}:${(3000 + 10).toString(16).toUpperCase().padStart(4, '0')} ${loop4}:9C40`;
    const later = `${loop4}:${(3000 + 100).toString(16).toUpperCase().padStart(4, '0')} ${loop4}:9C40`;
    const { entries, fed } = scanText(table, [later, early]);
    assert.equal(entries.length, 2);
    assert.ok(entries.every((e) => e?.state === '06'));
    assert.ok(fed < 5 * 4050, `read ${fed} of ${table.length} bytes for two lines within the first 102`);
  });

  test('a pattern is only taken where a line\'s columns start, never from another column', () => {
    // Our end's line has the client's address as its remote column: `local remote` reversed.
    const clientEnd = `${loop4}:9C40 ${loop4}:3C48`;
    const table = [
      TCP_HEADER,
      line(0, `${loop4}:3C48`, `${loop4}:9C40`, '01', 1000, 1),
      // The same text shifted into the middle of a column must not count either.
      `   1: X${clientEnd} 01 00000000:00000000 00:00000000 00000000  1234        0 7 1 0`.padEnd(149),
      '',
    ].join('\n');
    assert.deepEqual(scanText(table, [clientEnd]).entries, [undefined]);
  });

  test('a pattern wanted part-way is looked for in the rest of the table only', () => {
    const lines = [TCP_HEADER];
    for (let i = 0; i < 200; i++) lines.push(timeWait(i, 4000 + i));
    const table = Buffer.from(lines.join('\n') + '\n', 'latin1');
    const at = (i: number) => `${loop4}:${(4000 + i).toString(16).toUpperCase().padStart(4, '0')} ${loop4}:9C40`;
    const scan = new TableScan([at(150)], Buffer.alloc(64 * 1024));
    let fed = 0;
    const feed = (upTo: number) => {
      while (fed < upTo && !scan.done) {
        const { buffer, offset, length } = scan.space();
        const n = Math.min(length, 4050, upTo - fed);
        table.copy(buffer, offset, fed, fed + n);
        fed += n;
        scan.advance(n);
      }
    };
    feed(table.indexOf(at(100)));
    const behind = scan.want(at(10));
    const ahead = scan.want(at(120));
    feed(table.length);
    if (!scan.done) scan.advance(0);
    assert.equal(scan.entries[behind], undefined, 'a line already passed is not seen (the next read must look again)');
    assert.equal(scan.entries[ahead]?.state, '06');
    assert.equal(scan.entries[0]?.state, '06');
  });

  test('a line read in part before its pattern was wanted is not taken: it may be about an earlier socket', () => {
    const wanted = `${loop4}:9C40 ${loop4}:3C48`;
    const text = Buffer.from(`${TCP_HEADER}\n${line(0, `${loop4}:9C40`, `${loop4}:3C48`, '01', 1000, 5)}\n${line(1, `${loop4}:9C40`, `${loop4}:3C48`, '01', 1001, 6)}\n`, 'latin1');
    const scan = new TableScan([], Buffer.alloc(4096));
    const feed = (from: number, to: number) => {
      const { buffer, offset } = scan.space();
      text.copy(buffer, offset, from, to);
      scan.advance(to - from);
    };
    const cut = text.indexOf(wanted) + wanted.length + 10; // inside the first line, after its columns
    feed(0, cut);
    const index = scan.want(wanted);
    feed(cut, text.length);
    assert.deepEqual(scan.entries[index], { state: '01', uid: 1001, held: true }, 'the next line, read whole after the pattern was wanted');
  });
});
