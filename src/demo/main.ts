/**
 * `npm run demo`: the whole product in one run, with nothing to set up. A throwaway PKI, a real
 * mTLS echo server that demands a client certificate, a tunnel to it, real traffic through the
 * tunnel checked byte for byte, the handshake doctor's report, a misconfigured tunnel explained,
 * and the certificates summarized. `--keep` leaves the tunnel up for you to try with nc/telnet.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatEndpoint, TunnelConfig } from '../core/config/model';
import { parseTunnels } from '../core/config/parse';
import { formatInspections, inspectFiles } from '../core/certs';
import { checkTunnel, formatCheckReport } from '../core/doctor';
import { Diagnosis, formatDiagnosis } from '../core/diagnostics/diagnosis';
import { Logger } from '../core/log';
import { TunnelManager } from '../core/manager';
import { createThrowawayPki } from '../core/pki/testPki';
import { startDemoServer } from './demoServer';

const say = (s = '') => process.stdout.write(`${s}\n`);
const step = (n: number, s: string) => say(`\n\x1b[1m${n}. ${s}\x1b[0m`);

async function echoThrough(port: number, payload: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const hash = createHash('sha256');
    let received = 0;
    socket.on('data', (d) => {
      hash.update(d);
      received += d.length;
    });
    socket.on('end', () => resolve(received === payload.length && hash.digest('hex') === createHash('sha256').update(payload).digest('hex')));
    socket.on('error', reject);
    socket.setTimeout(30_000, () => socket.destroy(new Error('timed out')));
    // Half-close after sending: the echo comes back in full before the tunnel closes.
    socket.end(payload);
  });
}

/**
 * Sends a line and keeps the write side open, as an interactive client would: resolves true if
 * anything comes back, false once the tunnel closes the connection without a reply.
 */
function answeredThrough(port: number, payload: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(payload));
    socket.once('data', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('close', () => resolve(false));
    socket.on('error', () => resolve(false));
    socket.setTimeout(30_000, () => socket.destroy());
  });
}

async function diagnosisOf(manager: TunnelManager, name: string, timeoutMs: number): Promise<Diagnosis | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (!manager.entry(name)?.lastDiagnosis && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return manager.entry(name)?.lastDiagnosis;
}

function config(raw: Record<string, unknown>): TunnelConfig {
  const { tunnels, errors } = parseTunnels([raw]);
  if (errors.length > 0) throw new Error(errors.map(String).join('\n'));
  return tunnels[0];
}

async function main(): Promise<number> {
  const keep = process.argv.includes('--keep');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-tunnels-demo-'));
  const logLines: string[] = [];
  const logger: Logger = {
    trace: () => undefined,
    debug: (m) => logLines.push(m),
    info: (m) => logLines.push(m),
    warn: (m) => logLines.push(m),
    error: (m) => logLines.push(m),
  };
  const manager = new TunnelManager({ logger, drainTimeoutMs: 1000, watchCredentials: false });
  let server: Awaited<ReturnType<typeof startDemoServer>> | undefined;
  try {
    say('mTLS Tunnels demo');
    step(1, 'A throwaway PKI');
    const pki = await createThrowawayPki(path.join(dir, 'pki'));
    say(`   root CA, intermediate CA, server "localhost", client "alice" and a rogue CA in ${pki.dir}`);

    step(2, 'A real mTLS server');
    server = await startDemoServer(pki);
    say(`   echo server on 127.0.0.1:${server.port}; it refuses any client without a certificate from the root CA`);

    step(3, 'A tunnel to it');
    const demo = config({ name: 'demo', listen: 0, target: `127.0.0.1:${server.port}`, serverName: 'localhost', cert: pki.client.cert, key: pki.client.key, ca: pki.ca });
    const rogue = config({ name: 'demo-rogue', listen: 0, target: `127.0.0.1:${server.port}`, serverName: 'localhost', cert: pki.rogueClient.cert, key: pki.rogueClient.key, ca: pki.ca });
    manager.apply([demo, rogue]);
    await manager.start('demo');
    const port = manager.tunnel('demo')!.address()!.port;
    say(`   demo listening on 127.0.0.1:${port} -> ${formatEndpoint(demo.target)} (tls): plain TCP in, mutual TLS out`);

    step(4, 'Traffic through the tunnel');
    const started = performance.now();
    const sizes = [1, 64 * 1024, 4 << 20, 4 << 20, 4 << 20, 4 << 20];
    const results = await Promise.all(sizes.map((n) => echoThrough(port, randomBytes(n))));
    const ms = performance.now() - started;
    const total = sizes.reduce((a, b) => a + b, 0);
    const ok = results.every(Boolean);
    say(`   ${sizes.length} concurrent plain-TCP clients sent ${(total / 1048576).toFixed(1)} MiB and got every byte back (${ok ? 'SHA-256 match' : 'MISMATCH'}) in ${ms.toFixed(0)} ms`);
    const snap = manager.entry('demo')!.snapshot!;
    say(`   tunnel counters: ${snap.totalConnections} connections, ${snap.handshakesOk} handshakes (${snap.lastHandshake?.version}, ${snap.lastHandshake?.cipher}), ${snap.bytesUp} bytes up, ${snap.bytesDown} bytes down`);
    if (!ok) return 1;

    step(5, 'The handshake doctor (mtls-tunnels check)');
    const report = await checkTunnel(demo);
    say(indent(formatCheckReport(report)));

    step(6, 'A mistake, explained');
    await manager.start('demo-rogue');
    const roguePort = manager.tunnel('demo-rogue')!.address()!.port;
    // The server sees the certificate in the handshake and hangs up; the tunnel says why.
    const answered = await answeredThrough(roguePort, Buffer.from('hello\n'));
    const diagnosis = await diagnosisOf(manager, 'demo-rogue', 3000);
    say(`   a tunnel whose client certificate comes from a CA the server does not trust: traffic ${answered ? 'passed (unexpected!)' : 'refused'}`);
    say(`   ${diagnosis ? formatDiagnosis(diagnosis) : 'no diagnosis (unexpected)'}`);
    if (answered || !diagnosis) return 1;

    step(7, 'Certificates (mtls-tunnels inspect)');
    say(indent(formatInspections(await inspectFiles([pki.client.cert, pki.client.key]))));

    if (keep) {
      say(`\nThe tunnel stays up: try  nc 127.0.0.1 ${port}  (type a line, it echoes). Ctrl-C to stop.`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    say('\nDemo finished: everything above ran over real sockets with real TLS.');
    return 0;
  } finally {
    await manager.dispose();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function indent(text: string): string {
  return text.replace(/\n$/, '').split('\n').map((l) => `   ${l}`).join('\n');
}

main().then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (e: Error) => {
    process.stderr.write(`demo failed: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
