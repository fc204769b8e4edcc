/**
 * identityCommand with a real CA on the command line (`openssl ca` behind a script, certificates
 * valid for seconds) and a real TLS server that demands client certificates from that CA and
 * answers each connection with the serial number it was shown, then echoes. The server counts
 * every handshake, so "never dialled with the expired certificate" is something it saw.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, TestContext } from 'node:test';
import * as tls from 'node:tls';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { checkTunnel } from '../../src/core/doctor';
import { Tunnel, TunnelStartError } from '../../src/core/tunnel/tunnel';
import { withPki } from '../support/pkiFixture';
import { listenLocal } from '../support/ports';
import { makeShortLivedCa, ShortLivedCa } from '../support/shortLivedCa';
import { tunnelConfig } from '../support/tunnels';
import { closed, connectLocal, echoOnce, readBytes, recordingLogger, startTunnel, tunnelPort, until, within } from '../support/tunnelKit';

const pki = withPki();

interface SerialServer {
  port: number;
  /** Serial of each client certificate a handshake completed with, in order. */
  serials: string[];
  /** TCP connections that reached the server at all. */
  accepted(): number;
  close(): Promise<void>;
}

/** Demands a client certificate from `clientCa`; says `serial <hex>\n` on each connection, then echoes. */
async function serialServer(t: TestContext, clientCa: string): Promise<SerialServer> {
  const p = pki();
  const serials: string[] = [];
  let accepted = 0;
  const server = tls.createServer({ cert: readFileSync(p.server.cert), key: readFileSync(p.server.key), ca: readFileSync(clientCa), requestCert: true, rejectUnauthorized: true }, (s) => {
    const serial = s.getPeerCertificate().serialNumber;
    serials.push(serial);
    s.on('error', () => undefined);
    s.write(`serial ${serial}\n`);
    s.pipe(s);
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (raw: net.Socket) => {
    accepted += 1;
    sockets.add(raw);
    raw.once('close', () => sockets.delete(raw));
  });
  server.on('tlsClientError', () => undefined);
  const port = await listenLocal(server);
  const close = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const raw of sockets) raw.destroy();
  });
  t.after(close);
  return { port, serials, accepted: () => accepted, close };
}

/** Connects through the tunnel and reads the serial line the server greets with. */
async function serialThrough(t: TestContext, tunnel: Tunnel): Promise<{ socket: net.Socket; serial: string }> {
  const socket = await connectLocal(t, tunnelPort(tunnel));
  const line = (await readBytes(socket, 'serial '.length + 4, 10_000)).toString();
  let rest = '';
  while (!rest.endsWith('\n')) rest += (await readBytes(socket, 1, 3000)).toString();
  return { socket, serial: (line + rest).trim().slice('serial '.length) };
}

let ca: ShortLivedCa;
let work: string;
before(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'mtls-identity-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

function freshCa(name: string): ShortLivedCa {
  ca = makeShortLivedCa(path.join(work, name));
  return ca;
}

function identityConfig(serverPort: number, dir: string, overrides: Record<string, unknown>) {
  return tunnelConfig(pki(), serverPort, { name: 'renewing', cert: path.join(dir, 'never', 'client.crt'), key: path.join(dir, 'never', 'client.key'), ...overrides });
}

describe('identityCommand', () => {
  it('uses a certificate printed on stdout in memory: nothing is written, no PEM in the log', async (t) => {
    const ca = freshCa('stdout');
    const server = await serialServer(t, ca.caCert);
    const logger = recordingLogger();
    const config = identityConfig(server.port, ca.dir, { identityCommand: ca.command({ lifetimeSeconds: 600, output: 'stdout' }) });
    const tunnel = await startTunnel(t, config, { logger });
    assert.equal(ca.runs(), 1, 'the missing certificate made the command run at start');
    const { socket, serial } = await serialThrough(t, tunnel);
    assert.match(serial, /^[0-9A-F]+$/);
    assert.equal(await echoOnce(socket, 'ping'), 'ping');
    assert.equal(existsSync(config.cert!), false, 'the cert path was never written');
    assert.equal(existsSync(config.key!), false, 'the key path was never written');
    assert.equal(existsSync(path.dirname(config.cert!)), false);
    assert.equal(tunnel.counts().identity?.source, 'command output');
    assert.ok(!logger.lines.some((l) => /BEGIN|PRIVATE KEY/.test(l)), logger.lines.join('\n'));
  });

  it('renews when the window opens: new connections get new serials, an open one carries on', async (t) => {
    const ca = freshCa('window');
    const server = await serialServer(t, ca.caCert);
    // Valid 8 s (backdated 5): the window opens 6 s before the end, about 2 s after each issue.
    const config = identityConfig(server.port, ca.dir, { identityCommand: ca.command({ lifetimeSeconds: 8, output: 'stdout' }), renewBefore: '6s' });
    const tunnel = await startTunnel(t, config);
    const first = await serialThrough(t, tunnel);
    const seen = new Set([first.serial]);
    let reloads = 0;
    tunnel.on('credentialsReloaded', () => (reloads += 1));
    while (reloads < 2) {
      await within(new Promise((resolve) => tunnel.once('credentialsReloaded', resolve)), 15_000, 'a renewal');
      const next = await serialThrough(t, tunnel);
      seen.add(next.serial);
      next.socket.destroy();
      // The connection opened before every renewal still works, with the certificate it started with.
      assert.equal(await echoOnce(first.socket, `still here ${reloads}`), `still here ${reloads}`);
    }
    assert.ok(seen.size >= 3, `serials seen: ${[...seen].join(', ')}`);
    assert.ok(ca.runs() >= 3);
  });

  it('renews an expired certificate before the dial: the server never sees it', async (t) => {
    const ca = freshCa('expired');
    const server = await serialServer(t, ca.caCert);
    // The second run (the one the window starts) waits until released: the certificate expires meanwhile.
    const config = identityConfig(server.port, ca.dir, { identityCommand: ca.command({ lifetimeSeconds: 2, output: 'stdout', holdOnRun: 2 }), renewBefore: '1s' });
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, config, { logger });
    const firstValidTo = tunnel.counts().identity!.validTo;
    await until(() => ca.runs() === 2 && Date.now() > firstValidTo + 50, 10_000, 'the certificate to expire while its renewal is held');
    const connecting = serialThrough(t, tunnel);
    await until(() => logger.lines.some((l) => l.includes('waits for a renewed one before dialling')), 3000, 'the tunnel to hold the connection');
    assert.equal(server.accepted(), 0, 'no dial while the identity is expired');
    ca.release();
    const { serial } = await connecting;
    assert.deepEqual(server.serials, [serial], 'one handshake, with the renewed certificate');
    assert.ok(tunnel.counts().identity!.validTo > firstValidTo);
  });

  it('a failing renewal is named with its stderr, never its stdout; once expired, connections are refused undialled', async (t) => {
    const ca = freshCa('failing');
    const server = await serialServer(t, ca.caCert);
    const logger = recordingLogger();
    const config = identityConfig(server.port, ca.dir, { identityCommand: ca.command({ lifetimeSeconds: 4, output: 'stdout', failAfter: 1 }), renewBefore: '2s' });
    const tunnel = await startTunnel(t, config, { logger });
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    await until(() => diagnoses.some((d) => d.code === 'IDENTITY_COMMAND_FAILED'), 10_000, 'the renewal to fail');
    const failed = diagnoses.find((d) => d.code === 'IDENTITY_COMMAND_FAILED')!;
    assert.equal(failed.severity, 'warning', 'the last good certificate is still valid');
    assert.match(failed.summary, /Tunnel "renewing": identityCommand exited with code 4/);
    assert.match(failed.summary, /provisioner token for renewing has expired/);
    assert.match(failed.fix, /keeps the certificate it has \(valid until/);
    const validTo = tunnel.counts().identity!.validTo;
    await until(() => Date.now() > validTo + 50, 10_000, 'the certificate to expire');
    const socket = await connectLocal(t, tunnelPort(tunnel));
    assert.equal((await closed(socket, 3000)).error, undefined);
    const refusal = diagnoses.find((d) => d.code === 'CLIENT_CERT_EXPIRED');
    assert.ok(refusal, diagnoses.map((d) => d.code).join(', '));
    assert.match(refusal.summary, /refused without contacting the server/);
    assert.match(refusal.detail ?? '', /^valid from \d{4}-\d\d-\d\dT.* to \d{4}-/);
    assert.equal(server.accepted(), 0, 'the refused connection never reached the server');
    assert.ok(!logger.lines.some((l) => l.includes('SECRET-ON-STDOUT')), 'stdout is never logged');
    assert.ok(logger.lines.some((l) => l.includes('exited with code 4')));
  });

  it('fails the start naming identityCommand, its exit code and stderr, when there is no identity to fall back on', async () => {
    const ca = freshCa('start-fails');
    const logger = recordingLogger();
    const config = identityConfig(1, ca.dir, { identityCommand: 'echo SECRET-ON-STDOUT; echo "vault: permission denied" >&2; exit 3' });
    const tunnel = new Tunnel(config, { logger, watchCredentials: false });
    const e = await tunnel.start().then(() => undefined, (err: unknown) => err);
    assert.ok(e instanceof TunnelStartError);
    assert.equal(e.field, 'identityCommand');
    assert.equal(e.diagnosis.code, 'IDENTITY_COMMAND_FAILED');
    assert.match(e.diagnosis.summary, /exited with code 3; its last words on stderr: vault: permission denied/);
    assert.ok(!logger.lines.some((l) => l.includes('SECRET-ON-STDOUT')) && !e.diagnosis.summary.includes('SECRET'));
  });

  it('stops a command that runs too long, with what it started', async () => {
    const dir = mkdtempSync(path.join(work, 'timeout-'));
    const pidFile = path.join(dir, 'child.pid');
    const config = identityConfig(1, dir, { identityCommand: `sleep 30 & echo $! > '${pidFile}'; wait` });
    const tunnel = new Tunnel(config, { watchCredentials: false, identityCommandTimeoutMs: 300 });
    const e = await tunnel.start().then(() => undefined, (err: unknown) => err);
    assert.ok(e instanceof TunnelStartError);
    assert.equal(e.diagnosis.code, 'IDENTITY_COMMAND_TIMEOUT');
    assert.match(e.diagnosis.summary, /did not finish within 0\.3 s and was stopped/);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5000, 'the command\'s own child to be gone');
  });

  it('is never run where commands are not allowed (an untrusted workspace)', async () => {
    const ca = freshCa('untrusted');
    const config = identityConfig(1, ca.dir, { identityCommand: ca.command({ lifetimeSeconds: 60, output: 'stdout' }) });
    const tunnel = new Tunnel(config, { watchCredentials: false, runIdentityCommands: false });
    const e = await tunnel.start().then(() => undefined, (err: unknown) => err);
    assert.ok(e instanceof TunnelStartError);
    assert.equal(e.diagnosis.code, 'FILE_MISSING');
    assert.equal(ca.runs(), 0);
  });
});

describe('the handshake doctor with identityCommand', () => {
  it('runs it when asked, as a starting tunnel would, and not otherwise', async (t) => {
    const ca = freshCa('doctor');
    const server = await serialServer(t, ca.caCert);
    const config = identityConfig(server.port, ca.dir, { identityCommand: ca.command({ lifetimeSeconds: 600, output: 'stdout' }) });
    const without = await checkTunnel(config);
    assert.deepEqual(without.diagnoses.map((d) => d.code), ['FILE_MISSING']);
    assert.equal(ca.runs(), 0, 'a check not asked to run it (a readiness probe) never mints a certificate');
    const report = await checkTunnel(config, { runIdentityCommand: true });
    assert.equal(ca.runs(), 1);
    assert.notEqual(report.verdict, 'failed', report.diagnoses.map((d) => d.summary).join('\n'));
    assert.match(report.clientCertificate?.subject ?? '', /CN=renewing/);
    assert.equal(server.serials.length >= 1, true, 'the server saw the minted certificate');
  });
});

describe('an expired certificate without identityCommand', () => {
  it('makes the files be read again before the dial', async (t) => {
    const ca = freshCa('files');
    const server = await serialServer(t, ca.caCert);
    const dir = mkdtempSync(path.join(work, 'files-'));
    const cert = path.join(dir, 'client.crt');
    const key = path.join(dir, 'client.key');
    const { execFileSync } = await import('node:child_process');
    const issue = (lifetimeSeconds: number) => execFileSync('/bin/sh', ['-c', ca.command({ lifetimeSeconds, output: 'files' })], { env: { ...process.env, MTLS_TUNNEL_NAME: 'renewing', MTLS_CERT_FILE: cert, MTLS_KEY_FILE: key } });
    issue(1);
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'renewing', cert, key }));
    const validTo = tunnel.counts().identity!.validTo;
    await until(() => Date.now() > validTo + 50, 10_000, 'the certificate to expire');
    issue(60); // not watched (the test's tunnels do not watch): only the check before the dial can notice
    const { serial } = await serialThrough(t, tunnel);
    assert.deepEqual(server.serials, [serial]);
    assert.ok(tunnel.counts().identity!.validTo > validTo);
  });
});
