/**
 * A hashing mTLS sink in a process of its own, for the load test: it keeps a thousand
 * connections' descriptors out of the test process (which then measures only the tunnel's) and
 * gives the server side of the handshakes a core of its own.
 *
 * Run with `node --import tsx sinkProcess.ts CERT KEY CA` and an IPC channel. It sends
 * `{ port }` once listening; answers `'stats'` with `{ stats }`; exits on `'exit'` or when the
 * parent goes away. It is the test mTLS server with tunnelKit's sink handler: each connection is
 * hashed and, when the client ends, answered with `<bytes> <sha256>\n` before the sink ends its side.
 */
import { startMtlsServer } from '../support/mtlsServer';
import { sinkHandler } from '../support/tunnelKit';

export interface SinkStats {
  accepted: number;
  secured: number;
  open: number;
  /** Most TCP connections open at once, as seen when a TLS session came up. */
  peak: number;
  answered: number;
}

const [cert, key, ca] = process.argv.slice(2);
const counts = { secured: 0, peak: 0, answered: 0 };

void (async () => {
  const server = await startMtlsServer({ server: { cert, key }, ca }, {
    backlog: 4096,
    recordClients: false,
    handler: (socket) => {
      counts.secured++;
      counts.peak = Math.max(counts.peak, server.open());
      socket.once('end', () => counts.answered++);
      sinkHandler(socket);
    },
  });
  process.send?.({ port: server.port });
  process.on('message', (m) => {
    if (m === 'stats') process.send?.({ stats: { accepted: server.accepted, open: server.open(), ...counts } satisfies SinkStats });
    if (m === 'exit') void server.close().then(() => process.exit(0));
  });
})();
process.on('disconnect', () => process.exit(0));
