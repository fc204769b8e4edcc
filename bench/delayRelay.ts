/**
 * A TCP relay that holds every chunk (and the end) for `delayMs` in each direction, so a
 * benchmark on loopback sees a server `2 × delayMs` of round trip away: what a warm connection
 * saves is round trips (TCP connect, TLS handshake, PostgreSQL's SSLRequest), which loopback
 * has none of. The relay accepts at once, so the TCP connect's own round trip is not there: a
 * real server that far away costs a warm-less connection one round trip more than this shows.
 * Run as its own process (`node delayRelay.js '{"port":N,"delayMs":5}'`), so its
 * work is not on the load generator's event loop; prints `{"port":P}`. Order is kept (timers of
 * one delay fire in the order set); backpressure is not, which the small exchanges it is for
 * (conn1, paced) never need. Netem (`tc qdisc … netem delay`) would do it in the kernel, but on
 * `lo` it delays every process on the machine.
 */
import * as net from 'node:net';

function relay(from: net.Socket, to: net.Socket, delayMs: number): void {
  from.on('data', (chunk: Buffer) => {
    setTimeout(() => to.destroyed || to.write(chunk), delayMs);
  });
  from.once('end', () => setTimeout(() => to.destroyed || to.end(), delayMs));
  from.once('close', () => setTimeout(() => to.destroy(), delayMs));
}

function main(): void {
  const { port, delayMs } = JSON.parse(process.argv[2] ?? '{}') as { port: number; delayMs: number };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (down) => {
    const up = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
    for (const s of [down, up]) s.on('error', () => undefined);
    relay(down, up, delayMs);
    relay(up, down, delayMs);
  });
  server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => process.exit(0));
}

main();
