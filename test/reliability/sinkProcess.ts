/**
 * A hashing mTLS sink in a process of its own, for the load test: it keeps a thousand
 * connections' descriptors out of the test process (which then measures only the tunnel's) and
 * gives the server side of the handshakes a core of its own.
 *
 * Run with `node --import tsx sinkProcess.ts CERT KEY CA` and an IPC channel. It sends
 * `{ port }` once listening; answers `'stats'` with `{ stats }`; exits on `'exit'` or when the
 * parent goes away. Each connection is hashed and, when the client ends, answered with
 * `<bytes> <sha256>\n` before the sink ends its side.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface SinkStats {
  accepted: number;
  secured: number;
  open: number;
  /** Most TCP connections open at once. */
  peak: number;
  answered: number;
}

const [cert, key, ca] = process.argv.slice(2);
const stats: SinkStats = { accepted: 0, secured: 0, open: 0, peak: 0, answered: 0 };
const sockets = new Set<net.Socket>();

const server = tls.createServer({
  cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca),
  requestCert: true, rejectUnauthorized: true, allowHalfOpen: true,
}, (socket) => {
  stats.secured++;
  socket.on('error', () => undefined);
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (d: Buffer) => {
    bytes += d.length;
    hash.update(d);
  });
  socket.once('end', () => {
    stats.answered++;
    socket.end(`${bytes} ${hash.digest('hex')}\n`);
  });
});
server.on('tlsClientError', () => undefined);
server.on('connection', (raw: net.Socket) => {
  stats.accepted++;
  sockets.add(raw);
  stats.open = sockets.size;
  stats.peak = Math.max(stats.peak, stats.open);
  raw.once('close', () => {
    sockets.delete(raw);
    stats.open = sockets.size;
  });
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.send?.({ port: (server.address() as net.AddressInfo).port });
});
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ stats });
  if (m === 'exit') {
    for (const s of sockets) s.destroy();
    server.close(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
