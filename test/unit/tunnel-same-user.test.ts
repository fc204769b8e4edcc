/**
 * Only the tunnel's user can use a loopback tunnel on Linux: a real client process run as another
 * local user (`runuser -u mtlstest`) is refused before any upstream dial, logged once with its uid
 * and name, and counted, while the owner's client works in the same run; `allowOtherUsers: true`
 * lets it through; a warm upstream connection (warmConnections) waits untouched through the refusal.
 * Needs root (to create the user and switch to it), as CI runs; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import * as os from 'node:os';
import { ThrowawayPki } from '../../src/core/pki/testPki';
import { findSocket, peerOwner } from '../../src/core/tunnel/socketOwner';
import { expectedProtection } from '../../src/core/tunnel/protection';
import { tunnelConfig } from '../support/tunnels';
import { connectLocal, echoOnce, recordingLogger, startTunnel, tunnelPort, until } from '../support/tunnelKit';
import { makePki } from '../support/pkiFixture';
import { startMtlsServer } from '../support/mtlsServer';

const run = promisify(execFile);
const OTHER = 'mtlstest';

/** Why this file cannot run here, or undefined when it can. */
function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'the same-user check is Linux only';
  if (process.getuid?.() !== 0) return 'needs root to create the user "mtlstest" and run a client as it (CI runs as root)';
  return undefined;
}

async function ensureUser(): Promise<number> {
  try {
    await run('id', ['-u', OTHER]);
  } catch {
    await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', OTHER]);
  }
  return Number((await run('id', ['-u', OTHER])).stdout.trim());
}

/**
 * A tiny client as another user: connects, sends "ping\n", prints what came back before the
 * connection ended (or 5 s passed), as JSON.
 */
const CLIENT = `
const s = require('net').connect(Number(process.argv[1]), '127.0.0.1');
let got = '';
const done = (how) => { console.log(JSON.stringify({ got, how })); process.exit(0); };
s.on('connect', () => s.write('ping\\n'));
s.on('data', (d) => { got += d; if (got.length >= 5) done('reply'); });
s.on('error', (e) => done(e.code));
s.on('close', () => done('closed'));
setTimeout(() => done('timeout'), 5000);
`;

async function clientAsOther(port: number): Promise<{ got: string; how: string }> {
  const { stdout } = await run('runuser', ['-u', OTHER, '--', process.execPath, '-e', CLIENT, String(port)], { cwd: '/', timeout: 10_000 });
  return JSON.parse(stdout.trim());
}

describe('same-user loopback on Linux', { skip: skipReason() }, () => {
  let pki: ThrowawayPki;
  let dispose: () => Promise<void>;
  let otherUid: number;
  before(async () => {
    ({ pki, dispose } = await makePki());
    otherUid = await ensureUser();
  });
  after(() => dispose());

  test('another user\'s client is refused, logged once and counted; the owner\'s works; allowOtherUsers lets it in', { timeout: 30_000 }, async (t) => {
    const backend = await startMtlsServer(pki, {}, t);
    const logger = recordingLogger();
    const config = tunnelConfig(pki, backend.port, { name: 'shared' });
    const tunnel = await startTunnel(t, config, { logger });
    const port = tunnelPort(tunnel);
    assert.equal(tunnel.counts().protection?.kind, 'same-user');

    const first = await clientAsOther(port);
    const second = await clientAsOther(port);
    assert.deepEqual([first.got, second.got], ['', ''], 'the other user got an answer through the tunnel');
    assert.notEqual(first.how, 'timeout', 'the other user\'s connection was left open');

    const mine = await connectLocal(t, port);
    assert.equal(await echoOnce(mine, 'mine\n'), 'mine\n', 'the owner\'s client works in the same run');

    const counts = tunnel.counts();
    assert.equal(counts.refusedOtherUsers, 2);
    assert.equal(counts.totalConnections, 1, 'only the owner\'s connection was bridged');
    assert.equal(backend.accepted, 1, 'a refused connection was dialled upstream');
    const refusals = logger.lines.filter((l) => l.includes('refused a connection from another local user'));
    assert.equal(refusals.length, 1, `one line per peer uid: ${refusals.join(' | ')}`);
    assert.match(refusals[0], new RegExp(`^warn \\[shared\\] .*uid ${otherUid} \\(${OTHER}\\).*only root \\(uid 0\\)`));

    assert.equal(await tunnel.reconfigure({ ...config, allowOtherUsers: true }), true);
    assert.equal(tunnel.counts().protection?.kind, 'none');
    assert.match(tunnel.counts().protection!.reason, /allowOtherUsers/);
    assert.ok(logger.lines.some((l) => /^warn .*not protected from other local users: "allowOtherUsers" is true/.test(l)), 'the open door is said in the log');
    const allowed = await clientAsOther(port);
    assert.deepEqual(allowed, { got: 'ping\n', how: 'reply' });
    await until(() => tunnel.counts().totalConnections === 2, 3000, 'the other user\'s connection to be bridged');
    assert.equal(tunnel.counts().refusedOtherUsers, 2);
  });

  test('with warmConnections, a warm connection is never handed to another user\'s client: the check comes first', { timeout: 30_000 }, async (t) => {
    const got: boolean[] = [];
    const backend = await startMtlsServer(pki, { handler: (s) => {
      const i = got.push(false) - 1;
      s.once('data', () => (got[i] = true));
      s.pipe(s);
    } }, t);
    const tunnel = await startTunnel(t, tunnelConfig(pki, backend.port, { name: 'shared-warm', warmConnections: 1 }));
    await until(() => tunnel.counts().warm?.ready === 1, 5000, 'a warm connection');
    const refused = await clientAsOther(tunnelPort(tunnel));
    assert.equal(refused.got, '');
    assert.equal(tunnel.counts().refusedOtherUsers, 1);
    assert.deepEqual(tunnel.counts().warm, { ready: 1, taken: 0, retired: 0, lost: 0 }, 'the warm connection is still waiting, untouched');
    assert.deepEqual(got, [false]);
    const mine = await connectLocal(t, tunnelPort(tunnel));
    assert.equal(await echoOnce(mine, 'mine\n'), 'mine\n');
    assert.equal(tunnel.counts().warm?.taken, 1, 'the owner\'s client took it');
  });
});

describe('the kernel\'s socket table', { skip: process.platform === 'linux' ? undefined : 'Linux only' }, () => {
  test('the client end of a loopback connection is found, over IPv4 and IPv6, with our uid', async (t) => {
    const net = await import('node:net');
    for (const host of ['127.0.0.1', '::1']) {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, host, resolve));
      t.after(() => server.close());
      const accepted = new Promise<import('node:net').Socket>((resolve) => server.once('connection', resolve));
      const client = net.connect((server.address() as import('node:net').AddressInfo).port, host);
      t.after(() => client.destroy());
      const s = await accepted;
      const entry = await findSocket({ address: s.remoteAddress!, port: s.remotePort! }, { address: s.localAddress!, port: s.localPort! });
      assert.deepEqual(entry, { state: '01', uid: process.getuid!(), held: true }, `client end over ${host}`);
      assert.equal(await peerOwner(s), process.getuid!());
      // Closed by its process: the kernel keeps the socket (FIN_WAIT) but lists it with uid 0 and
      // no inode, whoever made it: its owner is unknown, never taken for root.
      client.destroy();
      const seen: unknown[] = [];
      const deadline = Date.now() + 3000;
      while (seen.at(-1) !== 'gone' && Date.now() < deadline) seen.push(await peerOwner(s));
      assert.equal(seen.at(-1), 'gone', `the closed client read as ${JSON.stringify(seen.slice(-3))}`);
      s.destroy();
    }
  });

  test('a lookup that joins a read under way finds its socket even where that read has already passed', { timeout: 60_000 }, async (t) => {
    const net = await import('node:net');
    const fs = await import('node:fs');
    // The kernel lists the clients of one listener together, at a place set by its port: twelve
    // listeners, each with TIME_WAIT lines from 400 clients that closed first, spread over the table.
    const listeners = await Promise.all(Array.from({ length: 12 }, async () => {
      const accepted: import('node:net').Socket[] = [];
      const server = net.createServer({ pauseOnConnect: true }, (s) => {
        accepted.push(s);
        s.on('error', () => undefined);
        s.on('end', () => s.end());
        s.resume();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(() => server.close());
      return { server, accepted, port: (server.address() as import('node:net').AddressInfo).port };
    }));
    for (let i = 0; i < 400; i += 25) {
      await Promise.all(listeners.flatMap(({ port }) => Array.from({ length: 25 }, () => new Promise<void>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.end());
        c.on('error', () => resolve());
        c.on('close', () => resolve());
        c.resume();
      }))));
    }
    for (const l of listeners) l.accepted.length = 0;
    const clients = listeners.flatMap(({ port }) => Array.from({ length: 5 }, () => net.connect(port, '127.0.0.1')));
    t.after(() => clients.forEach((c) => c.destroy()));
    await until(() => listeners.every((l) => l.accepted.length === 5), 10_000, 'every client to be accepted');
    const lines = fs.readFileSync('/proc/net/tcp', 'latin1').split('\n');
    const placed = listeners
      .map((l) => ({ ...l, line: lines.findIndex((x) => x.includes(`0100007F:${l.accepted[0].remotePort!.toString(16).toUpperCase().padStart(4, '0')} 0100007F:${l.port.toString(16).toUpperCase().padStart(4, '0')}`)) }))
      .sort((a, b) => a.line - b.line);
    const [early, late] = [placed[0], placed[placed.length - 1]];
    // A turn reads 16 pages of 27 lines; the early listener's lookups start once the read is past them.
    const turnsToPass = Math.ceil(early.line / 432) + 2;
    if (os.endianness() !== 'LE' || early.line < 0 || late.line < (turnsToPass + 2) * 432) return t.skip(`the table did not spread the listeners enough (lines ${early.line} and ${late.line})`);
    const first = late.accepted.map((s) => peerOwner(s));
    for (let i = 0; i < turnsToPass; i++) await new Promise((r) => setImmediate(r));
    const joined = early.accepted.map((s) => peerOwner(s));
    const uid = process.getuid!();
    assert.deepEqual(await Promise.all(first), [uid, uid, uid, uid, uid]);
    assert.deepEqual(await Promise.all(joined), [uid, uid, uid, uid, uid], 'the lookups that joined late were not looked for again from the start');

    // The read goes on from where the last lookup stopped (after the late listener's clients):
    // one behind that place is found from the start again, and one not listed at all is answered
    // "not listed" after a whole pass, not taken from what was read before it was asked.
    assert.equal(await peerOwner(late.accepted[4]), uid);
    assert.equal(await peerOwner(early.accepted[0]), uid, 'a client listed before where the read stood');
    assert.equal(await peerOwner(late.accepted[0]), uid);
    const gone = { address: '127.0.0.1', port: 1 };
    assert.equal(await findSocket(gone, { address: '127.0.0.1', port: late.port }), undefined);
    assert.equal(await peerOwner(early.accepted[1]), uid);
  });

  test('what each listener is protected by, before it listens', () => {
    const base = { listen: { host: '127.0.0.1', port: 1 }, allowOtherUsers: false };
    assert.equal(expectedProtection(base, 'linux').kind, 'same-user');
    assert.match(expectedProtection(base, 'darwin').reason, /macOS cannot tell .*"unix:" listener/);
    assert.match(expectedProtection(base, 'win32').reason, /Windows cannot tell/);
    assert.match(expectedProtection({ ...base, allowOtherUsers: true }, 'linux').reason, /allowOtherUsers/);
    assert.match(expectedProtection({ ...base, listen: { host: '0.0.0.0', port: 1 } }, 'linux').reason, /not loopback/);
  });
});
