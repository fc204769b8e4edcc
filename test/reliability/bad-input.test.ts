/**
 * Bad input from outside. Random bytes at a `postgres` tunnel's listener (seeded: empty, a byte,
 * seven, eight, pages of junk, an SSLRequest followed by junk, a StartupMessage claiming 2 GB…)
 * never crash the process or leak a socket, and a proper PostgreSQL client is served afterwards,
 * by a fake server here and by a real PostgreSQL when one is installed. A local client that is
 * slow to speak does not crash the tunnel when the server hangs up first. Settings files mangled
 * at random always yield a message naming the file, or tunnels and errors naming tunnel and
 * field. (test/unit/config-fuzz.test.ts already fuzzes the parser with random JSON values.)
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test, TestContext } from 'node:test';
import { ConfigFileError, extractTunnels, loadConfigFile } from '../../src/core/config/file';
import { ConfigError } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { binary, clientEnv, requireBinary, run, RunningPostgres, startPostgres } from '../support/servers';
import { tunnelConfig } from '../support/tunnels';
import { Tunnel } from '../../src/core/tunnel/tunnel';
import { MtlsConnection } from '../support/mtlsServer';
import { closed, connectionOf, connectLocal, readBytes, sleep, startTunnel, tunnelPort, until, within } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';
import { CANCEL, fakePostgres, GSSENC_REQUEST, int32, postgresSession, PROTOCOL_3, readMessage, SSL_REQUEST, startupMessage } from '../support/fakePostgres';
import { backToBaseline, inWaves, prng, resourceLevel, seededBytes, startScriptedBackend } from './kit';

/**
 * What came back to a client that sent junk: a run of `N` (the tunnel answering SSLRequests; the
 * fake server never sends a NoticeResponse) then whole PostgreSQL messages. Returns their types.
 */
function replyShape(reply: Buffer): string {
  let i = 0;
  while (i < reply.length && reply[i] === 0x4e) i++;
  let shape = 'N'.repeat(i);
  while (i < reply.length) {
    assert.ok(reply.length - i >= 5, `a truncated message at ${i} in ${reply.toString('hex').slice(0, 200)}`);
    const len = reply.readUInt32BE(i + 1);
    assert.ok(len >= 4 && i + 1 + len <= reply.length, `a message with a bad length at ${i}`);
    shape += String.fromCharCode(reply[i]);
    i += 1 + len;
  }
  return shape;
}

interface JunkCase {
  name: string;
  bytes: Buffer;
}

function junkCases(seed: number): JunkCase[] {
  const random = prng(seed);
  const junk = (n: number) => seededBytes(`junk-${seed}-${n}-${random()}`, n);
  const cases: JunkCase[] = [];
  for (const n of [0, 1, 7, 8, 9, 63, 4096, 65536]) cases.push({ name: `${n} random bytes`, bytes: junk(n) });
  cases.push({ name: 'SSLRequest + junk', bytes: Buffer.concat([SSL_REQUEST, junk(200)]) });
  cases.push({ name: 'GSSENCRequest + SSLRequest + junk', bytes: Buffer.concat([GSSENC_REQUEST, SSL_REQUEST, junk(1000)]) });
  cases.push({ name: '500 SSLRequests', bytes: Buffer.concat(Array<Buffer>(500).fill(SSL_REQUEST)) });
  cases.push({ name: 'SSLRequest cut short', bytes: SSL_REQUEST.subarray(0, 5) });
  cases.push({ name: 'StartupMessage claiming 2 GB', bytes: Buffer.concat([int32(0x7fffffff), int32(PROTOCOL_3), junk(1024)]) });
  cases.push({ name: 'StartupMessage of length 0', bytes: Buffer.concat([int32(0), junk(64)]) });
  cases.push({ name: 'StartupMessage of length 4', bytes: Buffer.concat([int32(4), int32(PROTOCOL_3)]) });
  cases.push({ name: 'StartupMessage of protocol 9.9', bytes: Buffer.concat([int32(16), int32(0x00090009), Buffer.from('user\0x\0')]) });
  cases.push({ name: 'StartupMessage without a user', bytes: Buffer.concat([int32(9), int32(PROTOCOL_3), Buffer.from([0])]) });
  cases.push({ name: 'StartupMessage cut in the middle', bytes: startupMessage({ user: 'alice', database: 'app' }).subarray(0, 13) });
  cases.push({ name: 'CancelRequest + junk', bytes: Buffer.concat([int32(16), int32(CANCEL), junk(8), junk(300)]) });
  cases.push({ name: 'startup, then a message claiming 4 GB', bytes: Buffer.concat([startupMessage({ user: 'alice' }), Buffer.from('Q'), int32(0xffffffff), junk(100)]) });
  cases.push({ name: 'startup, then messages of random types', bytes: Buffer.concat([startupMessage({ user: 'alice' }), junk(5000)]) });
  for (let i = 0; i < 12; i++) cases.push({ name: `junk #${i}`, bytes: junk(1 + Math.floor(random() * 20_000)) });
  return cases;
}

describe('bad input', () => {
  const pki = withPki();

  /**
   * Sends a case and then ends (and reads until closed), resets once the bytes are sent, or leaves
   * once the tunnel is in the middle of it (its upstream up, or its answer begun); resolves with
   * what came back.
   */
  async function throwAt(t: TestContext, tunnel: Tunnel, c: JunkCase, how: 'end' | 'reset' | 'leave'): Promise<Buffer> {
    const socket = await connectLocal(t, tunnelPort(tunnel));
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    const sent = new Promise<void>((resolve) => (c.bytes.length > 0 ? socket.write(c.bytes, () => resolve()) : resolve()));
    if (how === 'end') {
      socket.end();
      await closed(socket, 10_000);
    } else if (how === 'reset') {
      await within(sent, 5000, 'the junk to be sent');
      socket.resetAndDestroy();
    } else {
      await within(sent, 5000, 'the junk to be sent');
      await until(() => chunks.length > 0 || socket.readableEnded || socket.destroyed || connectionOf(tunnel, socket) !== undefined, 5000, 'the tunnel to take up the junk');
      socket.destroy();
    }
    return Buffer.concat(chunks);
  }

  test('random bytes at a postgres tunnel: no crash, no leak, and a PostgreSQL client is served afterwards', { timeout: 60_000 }, async (t) => {
    const pg = await startScriptedBackend(t, pki(), { postgres: true, handler: fakePostgres });
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg.port, { name: 'pg', protocol: 'postgres' }));
    const port = tunnelPort(tunnel);
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    assert.deepEqual(await postgresSession(t, port), ['R', 'Z', 'C', 'Z'], 'the session works before');
    await until(() => tunnel.snapshot().openConnections === 0 && pg.open() === 0, 5000, 'the first session to close');
    const baseline = resourceLevel();

    const cases = junkCases(0x5eed);
    const hows = ['end', 'reset', 'leave'] as const;
    const replies = await inWaves(cases.length * hows.length, 30, async (k) => {
      const c = cases[k % cases.length];
      const how = hows[Math.floor(k / cases.length)];
      return { c, how, reply: await throwAt(t, tunnel, c, how) };
    });
    for (const { c, how, reply } of replies) {
      if (how !== 'end') continue;
      // What reaches the client is the tunnel's N answers and whole messages from the server.
      const shape = replyShape(reply);
      assert.match(shape, /^N*(E|RZ(C?Z)*E?)?$/, `${c.name}: the client got ${JSON.stringify(shape)}`);
      if (c.name === '500 SSLRequests') assert.equal(shape, 'N'.repeat(500));
      if (c.name === 'StartupMessage claiming 2 GB') assert.equal(shape, 'E');
    }

    await until(() => tunnel.snapshot().openConnections === 0, 10_000, 'the tunnel to close every junk connection');
    await until(() => pg.open() === 0, 10_000, 'every upstream connection to close');
    await backToBaseline(baseline, 5000);
    assert.equal(tunnel.state, 'running');
    assert.equal(tunnel.snapshot().totalConnections, 1 + cases.length * hows.length);
    // Junk is the client's business: the tunnel reports nothing wrong with the server.
    assert.deepEqual(diagnoses.filter((d) => d.severity === 'error'), []);
    assert.deepEqual(await postgresSession(t, port), ['R', 'Z', 'C', 'Z'], 'the session works after');
  });

  test('the server resets while the local client has not spoken yet: no crash, and the client hears why once it speaks', { timeout: 20_000 }, async (t) => {
    // psql before its StartupMessage, a pool's idle connection: the upstream is up and nobody
    // reads it yet when the server resets it.
    const sessions: MtlsConnection[] = [];
    const pg = await startScriptedBackend(t, pki(), { postgres: true, handler: (session) => sessions.push(session) });
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg.port, { name: 'pg-reset', protocol: 'postgres' }));
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    for (let i = 1; i <= 3; i++) {
      const c = await connectLocal(t, tunnelPort(tunnel));
      // The tunnel has its upstream up (the client has not spoken, so it is not relaying yet);
      // the server resets it.
      await until(() => sessions.length === i, 5000, 'the upstream TLS session');
      sessions[i - 1].raw.resetAndDestroy();
      await until(() => pg.open() === 0, 5000, 'the server to reset');
      // The tunnel keeps an early upstream error to itself until the client speaks, so no event
      // says it has read the reset: a moment for the RST to cross loopback first.
      await sleep(50);
      c.write(SSL_REQUEST);
      assert.equal((await readBytes(c, 1, 3000)).toString(), 'N');
      c.write(startupMessage({ user: 'alice', database: 'app' }));
      const m = await readMessage(c);
      assert.equal(m.type, 'E', 'an ErrorResponse');
      assert.match(m.body.toString(), /Tunnel "pg-reset": .*reset/);
      await closed(c, 5000);
    }
    assert.equal(tunnel.state, 'running');
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the connections to be forgotten');
    assert.equal(diagnoses.length, 3);
    assert.ok(diagnoses.every((d) => d.summary.startsWith('Tunnel "pg-reset"')));
  });

  test('clients that leave a postgres tunnel before their StartupMessage take their upstream connection with them', { timeout: 20_000 }, async (t) => {
    const pg = await startScriptedBackend(t, pki(), { postgres: true, handler: fakePostgres });
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg.port, { name: 'pg-leavers', protocol: 'postgres' }));
    const clients = await Promise.all(Array.from({ length: 20 }, () => connectLocal(t, tunnelPort(tunnel))));
    // Every upstream is dialled and its TLS session up while the clients say nothing.
    await until(() => pg.seen.length === 20, 5000, 'the 20 upstream TLS sessions');
    clients.forEach((c, i) => (i % 2 === 0 ? c.destroy() : c.resetAndDestroy()));
    await until(() => tunnel.snapshot().openConnections === 0, 5000, 'the tunnel to forget them');
    await until(() => pg.open() === 0, 5000, 'their upstream connections to close');
  });

  /** What libpq does on Ctrl-C: a CancelRequest on a new connection, then wait for the server to close. */
  async function cancelQuery(t: TestContext, port: number): Promise<number> {
    const c = await connectLocal(t, port);
    let got = 0;
    c.on('data', (d: Buffer) => (got += d.length));
    c.write(Buffer.concat([int32(16), int32(CANCEL), int32(4242), int32(0x5ec2e7)]));
    await within(new Promise((resolve) => c.once('end', resolve)), 5000, 'the server to close after the CancelRequest');
    c.destroy();
    return got;
  }

  test('a query cancel (CancelRequest, then the server closes without a word) is not a refused certificate', { timeout: 20_000 }, async (t) => {
    const pg = await startScriptedBackend(t, pki(), { postgres: true, handler: fakePostgres });
    const tunnel = await startTunnel(t, tunnelConfig(pki(), pg.port, { name: 'pg-cancel', protocol: 'postgres' }));
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    for (let i = 0; i < 5; i++) assert.equal(await cancelQuery(t, tunnelPort(tunnel)), 0);
    await until(() => tunnel.snapshot().openConnections === 0, 3000, 'the cancel connections to close');
    assert.deepEqual(diagnoses, []);
    assert.deepEqual(tunnel.snapshot().handshakesFailed, {});
    assert.equal(tunnel.snapshot().handshakesOk, 5);
  });

  describe('with a real PostgreSQL', { skip: requireBinary('initdb', 'postgres', 'psql') }, () => {
    let postgres: RunningPostgres | undefined;
    before(async () => {
      postgres = await startPostgres({ pki: pki() });
    }, { timeout: 120_000 });
    after(() => postgres?.stop());

    test('a certificate the server refuses, while the client has not spoken yet: no crash, and an ErrorResponse that says why', { timeout: 30_000 }, async (t) => {
      // Under TLS 1.3 PostgreSQL's refusal (an alert) arrives after our side of the handshake is
      // done; a client that is slow to send its StartupMessage is not reading yet.
      const tunnel = await startTunnel(t, tunnelConfig(pki(), postgres!.port, { name: 'real-pg-refused', protocol: 'postgres', cert: pki().rogueClient.cert, key: pki().rogueClient.key }));
      const refusals = async () => (await postgres!.log()).split('certificate verify failed').length - 1;
      const before = await refusals();
      const c = await connectLocal(t, tunnelPort(tunnel));
      await until(async () => (await refusals()) > before, 10_000, 'PostgreSQL to refuse the certificate');
      // The tunnel keeps the refusal (an alert) to itself until the client speaks, so no event
      // says it has read it: a moment for the alert to cross loopback first.
      await sleep(100);
      c.write(SSL_REQUEST);
      assert.equal((await readBytes(c, 1, 3000)).toString(), 'N');
      c.write(startupMessage({ user: 'alice', database: 'staging' }));
      const m = await readMessage(c);
      assert.equal(m.type, 'E');
      assert.match(m.body.toString(), /Tunnel "real-pg-refused": the server does not trust the CA that issued your client certificate/);
      await closed(c, 5000);
      assert.deepEqual(tunnel.snapshot().handshakesFailed, { CLIENT_CERT_UNKNOWN_CA: 1 });
      assert.equal(tunnel.state, 'running');
    });

    test('a query cancel is not a refused certificate', { timeout: 30_000 }, async (t) => {
      const tunnel = await startTunnel(t, tunnelConfig(pki(), postgres!.port, { name: 'real-pg-cancel', protocol: 'postgres' }));
      for (let i = 0; i < 3; i++) assert.equal(await cancelQuery(t, tunnelPort(tunnel)), 0);
      await until(() => tunnel.snapshot().openConnections === 0, 5000, 'the cancel connections to close');
      assert.deepEqual(tunnel.snapshot().handshakesFailed, {});
      assert.equal(tunnel.snapshot().lastDiagnosis, undefined);
    });

    test('junk first, then psql through the same tunnel gets in with the client certificate', { timeout: 60_000 }, async (t) => {
      const tunnel = await startTunnel(t, tunnelConfig(pki(), postgres!.port, { name: 'real-pg', protocol: 'postgres' }));
      const port = tunnelPort(tunnel);
      const cases = junkCases(0xbad);
      await inWaves(cases.length, 15, (k) => throwAt(t, tunnel, cases[k], k % 2 === 0 ? 'end' : 'reset'));
      await until(() => tunnel.snapshot().openConnections === 0, 15_000, 'the junk connections to close');
      const conninfo = `host=127.0.0.1 port=${port} dbname=staging user=alice connect_timeout=10`;
      const result = await within(run(binary('psql'), ['-X', '-At', conninfo, '-c', 'select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()'], { env: clientEnv(), timeoutMs: 20_000 }), 25_000, 'psql');
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.out.trim(), 'alice|t');
      assert.match(await postgres!.log(), /invalid length of startup packet/, 'the server saw the junk too');
      assert.equal(tunnel.state, 'running');
    });
  });

  describe('settings files mangled at random', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-mangled-'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    const VALID = `// team tunnels
{
  "editor.tabSize": 2,
  "mtlsTunnels.tunnels": [
    {
      "name": "staging-db",
      "listen": 15432,
      "target": "db.internal:5432",
      "protocol": "postgres",
      "cert": "\${userHome}/.mtls/client.crt",
      "key": "\${userHome}/.mtls/client.key",
      "ca": "\${workspaceFolder}/certs/ca.crt",
      "verify": { "subjectAltNames": ["DNS:db.internal"], "spkiSha256": ["${'A'.repeat(43)}="] },
      "connectTimeoutMs": 5000,
    },
    /* a PKCS#12 one */
    { "name": "redis", "listen": "127.0.0.1:16379", "target": "[2001:db8::1]:6380", "pfx": "certs/client.p12", "passphrase": "\${env:P12_PASS}", "alpn": ["h2"], "autoStart": true },
  ],
}
`;
    const ALPHABET = ['{', '}', '[', ']', '"', ',', ':', '\\', '/', '*', '\n', ' ', '0', '-1', '1e999', 'true', 'null', '${', '${env:', '\u0000', '\uFEFF', '\uD800', 'é', '"mtlsTunnels.tunnels"', '"tunnels"', '"name"', '"listen"', '[[[[[[[[', ']]]]'];

    function mangle(random: () => number, text: string): string {
      const at = () => Math.floor(random() * (text.length + 1));
      const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
      switch (Math.floor(random() * 8)) {
        case 0: return text.slice(0, at());
        case 1: { const a = at(); return text.slice(0, a) + text.slice(a + 1 + Math.floor(random() * 40)); }
        case 2: { const a = at(); return text.slice(0, a) + Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(ALPHABET)).join('') + text.slice(a); }
        case 3: { const a = at(); const b = at(); return text.slice(0, a) + text.slice(Math.min(a, b), Math.max(a, b)) + text.slice(a); }
        case 4: { const a = at(); return text.slice(0, a) + String.fromCharCode(Math.floor(random() * 0xffff)) + text.slice(a + 1); }
        case 5: { const a = at(); return text.slice(0, a) + '['.repeat(1 + Math.floor(random() * 20_000)) + text.slice(a); }
        case 6: return text.replace(/"(\w+)":/g, (m, k: string) => (random() < 0.2 ? `"${k.toUpperCase()}":` : m));
        default: { const a = at(); return text.slice(0, a) + '"' + 'x'.repeat(Math.floor(random() * 100_000)) + '"' + text.slice(a); }
      }
    }

    function checkError(e: ConfigError): void {
      assert.ok(e instanceof ConfigError);
      assert.ok(e.tunnel.length > 0, 'names a tunnel');
      const text = String(e);
      assert.ok(e.field === '' ? /^(each tunnel must be an object|mtlsTunnels\.tunnels must be an array)/.test(e.message) : text.includes(`${e.field}: `), `"${text}" names its field`);
    }

    test('1500 mangled settings texts: a ConfigFileError naming the file, or tunnels plus errors naming tunnel and field; never anything else', { timeout: 30_000 }, () => {
      const random = prng(0xf11e);
      const file = '/ws/.vscode/settings.json';
      let fileErrors = 0;
      let parsed = 0;
      for (let i = 0; i < 1500; i++) {
        let text = VALID;
        for (let m = 1 + Math.floor(random() * 3); m > 0; m--) text = mangle(random, text);
        try {
          const { tunnels, errors } = parseTunnels(extractTunnels(text, file), { workspaceFolder: '/ws', userHome: '/home/u', env: {} });
          for (const e of errors) checkError(e);
          assert.ok(tunnels.length <= 2);
          parsed++;
        } catch (e) {
          if (e instanceof ConfigFileError) {
            assert.equal(e.file, file);
            assert.ok(e.message.startsWith(`${file}: `) && e.message.length > file.length + 2, e.message);
            fileErrors++;
            continue;
          }
          assert.fail(`case ${i}: ${String(e)} for ${JSON.stringify(text.slice(0, 300))}`);
        }
      }
      assert.ok(fileErrors > 300 && parsed > 300, `both outcomes exercised: ${fileErrors} file errors, ${parsed} parsed`);
    });

    test('the same through loadConfigFile from disk, including bytes that are not UTF-8', { timeout: 30_000 }, async () => {
      const random = prng(0xd15c);
      for (let i = 0; i < 60; i++) {
        const file = path.join(dir, `${i}`, '.vscode', 'settings.json');
        await mkdir(path.dirname(file), { recursive: true });
        const text = mangle(random, VALID);
        await writeFile(file, i % 3 === 0 ? Buffer.concat([Buffer.from(text), seededBytes(`bytes${i}`, 64)]) : text);
        const outcome = await loadConfigFile(file).then((r) => r, (e: unknown) => e);
        if (outcome instanceof ConfigFileError) {
          assert.ok(outcome.message.startsWith(`${file}: `), outcome.message);
        } else {
          assert.ok(!(outcome instanceof Error), `case ${i}: ${String(outcome)}`);
          for (const e of (outcome as { errors: ConfigError[] }).errors) checkError(e);
        }
      }
    });
  });
});
