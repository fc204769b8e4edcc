/**
 * How often the same-user check's owner lookup misses when one client connects at a time (c=1),
 * and what a miss costs (bench/README.md, "The owner lookup at c=1"). A listener whose every
 * accepted socket is looked up with socketOwner.ts's `peerOwner` before it is served, as the
 * tunnel does; `--churn` connections to another listener first fill the table with TIME_WAIT
 * sockets (0: a quiet machine's table); then `--connections` clients one after the other, each
 * closing cleanly before the next connects.
 *
 *   node --import tsx bench/ownerLookupC1.ts [--churn 8000] [--connections 1500]
 *
 * A lookup that finds its line within a few lines of where the last one stopped takes a fraction
 * of a millisecond; one that misses reads the table from its start. Prints the lookup's p50, p90
 * and p99 and the share of lookups slower than 1.5 ms (the misses: a read from the start costs
 * at least the 2.7 ms walk over the kernel's empty hash buckets on this machine).
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { percentile } from './load';
import { peerOwner } from '../src/core/tunnel/socketOwner';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : fallback);

function listen(onSocket: (s: net.Socket) => void, options: net.ServerOpts = {}): Promise<number> {
  const server = net.createServer(options, onSocket);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

/** One client: connect, send a byte, wait for it back, end, wait for the close. */
function roundTrip(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('x'));
    c.once('data', () => c.end());
    c.on('error', reject);
    c.on('close', () => resolve());
  });
}

async function main(): Promise<void> {
  const churn = opt('churn', 8000);
  const connections = opt('connections', 1500);
  const echo = (s: net.Socket) => {
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  };
  const churnPort = await listen(echo);
  for (let i = 0; i < churn; i += 50) await Promise.all(Array.from({ length: Math.min(50, churn - i) }, () => roundTrip(churnPort)));
  const lines = readFileSync('/proc/net/tcp', 'latin1').split('\n').length - 2;

  const times: number[] = [];
  let refused = 0;
  const port = await listen((s) => {
    s.on('error', () => undefined);
    const t0 = performance.now();
    void peerOwner(s).then((owner) => {
      times.push(performance.now() - t0);
      if (owner !== process.getuid?.()) refused++;
      s.resume();
      echo(s);
    });
  }, { pauseOnConnect: true });
  const load0 = os.loadavg()[0].toFixed(2);
  for (let i = 0; i < connections; i++) await roundTrip(port);
  const misses = times.filter((t) => t > 1.5).length;
  const f = (p: number) => percentile(times, p).toFixed(2);
  process.stdout.write(`table ${lines} lines after ${churn} churn connections; load average ${load0} -> ${os.loadavg()[0].toFixed(2)}\n`);
  process.stdout.write(`${connections} lookups at c=1: p50 ${f(50)} ms, p90 ${f(90)} ms, p99 ${f(99)} ms; slower than 1.5 ms (misses): ${misses} (${((100 * misses) / connections).toFixed(1)} %)${refused ? `; ${refused} not found as ours` : ''}\n`);
  process.exit(0);
}

void main();
