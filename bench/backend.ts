/**
 * The benchmark's upstream: a small mTLS server (it demands a client certificate signed by the
 * throwaway CA) plus a plain-TCP twin for the loopback baseline. Runs in its own process, started
 * by bench/run.ts with a JSON argument; prints `{"tls":PORT,"plain":PORT}` once both listen.
 *
 * The first byte a client sends chooses the mode:
 *   'E'                  echo every following byte back
 *   'S' + u64be length   sink: read `length` bytes, then answer one byte 'K' and end
 *   'R' + u64be length   source: write `length` bytes, then end
 *   'C'                  counters (meant for the plain port): answers one JSON line
 *                        `{"full":N,"resumed":M}`, the mTLS handshakes completed so far, and ends
 *
 * The counters are the rival's honesty check: a bridge that resumes its upstream TLS session pays
 * far less per connection than one that does a full handshake, so the benchmark reads them before
 * and after each contender's connection run (`tlsSocket.isSessionReused()` per connection).
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

interface BackendArgs {
  cert: string;
  key: string;
  ca: string;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const handshakes = { full: 0, resumed: 0 };

function handle(sock: net.Socket): void {
  sock.setNoDelay(true);
  sock.on('error', () => undefined);
  let header: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    header = header.length === 0 ? chunk : Buffer.concat([header, chunk]);
    const mode = header[0];
    if (mode === 0x45 /* E */) {
      sock.off('data', onData);
      if (header.length > 1) sock.write(header.subarray(1));
      sock.pipe(sock);
      return;
    }
    if (mode === 0x43 /* C */) {
      sock.off('data', onData);
      sock.end(`${JSON.stringify(handshakes)}\n`);
      return;
    }
    if (mode !== 0x53 /* S */ && mode !== 0x52 /* R */) {
      sock.destroy();
      return;
    }
    if (header.length < 9) return;
    sock.off('data', onData);
    const length = Number(header.readBigUInt64BE(1));
    const rest = header.subarray(9);
    if (mode === 0x53) sink(sock, length, rest.length);
    else source(sock, length);
  };
  sock.on('data', onData);
}

function sink(sock: net.Socket, length: number, already: number): void {
  let remaining = length - already;
  const done = () => {
    sock.off('data', onData);
    sock.end('K');
  };
  const onData = (chunk: Buffer) => {
    remaining -= chunk.length;
    if (remaining <= 0) done();
  };
  if (remaining <= 0) done();
  else sock.on('data', onData);
}

function source(sock: net.Socket, length: number): void {
  let remaining = length;
  const pump = () => {
    while (remaining > 0) {
      const n = Math.min(remaining, CHUNK.length);
      remaining -= n;
      const ok = sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
      if (!ok) {
        sock.once('drain', pump);
        return;
      }
    }
    sock.end();
  };
  sock.resume();
  pump();
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as BackendArgs;
  const tlsServer = tls.createServer({
    cert: readFileSync(args.cert),
    key: readFileSync(args.key),
    ca: readFileSync(args.ca),
    requestCert: true,
    rejectUnauthorized: true,
  }, (sock) => {
    if (sock.isSessionReused()) handshakes.resumed++;
    else handshakes.full++;
    handle(sock);
  });
  tlsServer.on('tlsClientError', () => undefined);
  const plainServer = net.createServer(handle);
  const listen = (s: net.Server) => new Promise<number>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => resolve((s.address() as net.AddressInfo).port));
  });
  const ports = { tls: await listen(tlsServer), plain: await listen(plainServer) };
  process.stdout.write(`${JSON.stringify(ports)}\n`);
  // Dies with its parent: the benchmark closes our stdin (or is killed) and we follow.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => process.exit(0));
}

main().catch((e: Error) => {
  process.stderr.write(`backend: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
