/**
 * The CONNECT hop on real sockets, against small scripted proxies that answer exactly what a test
 * needs: the request as sent, an answer in pieces, bytes after the answer left for the next
 * reader, the 16 KiB bound, and each failure as the handshake doctor words it. The same dial runs
 * preamble-less TLS through a scripted relay, with SNI naming the target, never the proxy.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { describe, test, TestContext } from 'node:test';
import { ProxyConfig } from '../../src/core/config/model';
import { checkTunnel } from '../../src/core/doctor';
import { readExactly } from '../../src/core/net/socketReader';
import { loadCredentials } from '../../src/core/tls/credentials';
import { MAX_PROXY_HEADER_BYTES, ProxyError, connectRequest, proxyConnect } from '../../src/core/tunnel/proxy';
import { dialUpstream } from '../../src/core/tunnel/upstream';
import { startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { RawServer, startRawServer } from '../support/rawServers';
import { tunnelConfig } from '../support/tunnels';
import { MB, connectLocal, readToEnd, sha256, sinkHandler, sleep, startTunnel, tunnelPort, within, writeAll } from '../support/tunnelKit';
import { listenLocal } from '../support/ports';

const pki = withPki();
const TARGET = { host: 'db.internal', port: 5432 };
const plainProxy = (port: number): ProxyConfig => ({ host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, source: 'settings' });

/** Reads one request head (up to the blank line) from a proxy's client; the rest is unshifted. */
function readHead(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      if (got.length > end + 4) socket.unshift(got.subarray(end + 4));
      resolve(got.subarray(0, end + 4).toString('latin1'));
    };
    socket.on('data', onData);
  });
}

/** A proxy that reads the CONNECT, then runs `answer` on the socket. */
async function scriptedProxy(t: TestContext, answer: (socket: net.Socket, head: string) => unknown): Promise<RawServer> {
  const server = await startRawServer((socket) => {
    void readHead(socket).then((head) => answer(socket, head));
  });
  t.after(() => server.close());
  return server;
}

/**
 * A working CONNECT relay: it connects where the request says (or to `route`, for a target name
 * only "the proxy" can resolve), answers 200 and pipes both ways.
 */
async function relay(t: TestContext, route?: { port: number }): Promise<RawServer & { heads: string[] }> {
  const heads: string[] = [];
  const server = await scriptedProxy(t, (socket, head) => {
    heads.push(head);
    const authority = /^CONNECT (\S+) /.exec(head)![1];
    const port = route?.port ?? Number(authority.replace(/^.*:/, ''));
    const upstream = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write('HTTP/1.1 200 Connection established\r\nProxy-Agent: scripted\r\n\r\n');
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.resume();
    });
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  });
  return Object.assign(server, { heads });
}

async function connected(t: TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

/** An mTLS echo server that records the SNI each connection asked for. */
async function sniEcho(t: TestContext): Promise<{ port: number; names: (string | false)[] }> {
  const names: (string | false)[] = [];
  const server = await startMtlsServer(pki(), {
    handler: (s) => {
      names.push((s as tls.TLSSocket & { servername: string | false }).servername);
      s.pipe(s);
    },
  }, t);
  return { port: server.port, names };
}

describe('the CONNECT request', () => {
  test('CONNECT host:port with Host and a User-Agent; Basic credentials when the proxy has them', () => {
    assert.equal(connectRequest(plainProxy(3128), TARGET), 'CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\nUser-Agent: mtls-tunnels\r\n\r\n');
    const withAuth = { ...plainProxy(3128), auth: { username: 'alice', password: 'pä:ss' } };
    assert.equal(
      connectRequest(withAuth, { host: '2001:db8::7', port: 443 }),
      `CONNECT [2001:db8::7]:443 HTTP/1.1\r\nHost: [2001:db8::7]:443\r\nUser-Agent: mtls-tunnels\r\nProxy-Authorization: Basic ${Buffer.from('alice:pä:ss', 'utf8').toString('base64')}\r\n\r\n`,
    );
  });

  test('the proxy receives exactly that, and nothing else before it answers', async (t) => {
    let head = '';
    const proxy = await scriptedProxy(t, (socket, h) => {
      head = h;
      socket.write('HTTP/1.1 200 OK\r\n\r\n');
    });
    const socket = await connected(t, proxy.port);
    await within(proxyConnect(socket, plainProxy(proxy.port), TARGET), 3000, 'the CONNECT');
    assert.equal(head, connectRequest(plainProxy(proxy.port), TARGET));
  });
});

describe('reading the answer', () => {
  test('split into one-byte pieces, with the first bytes of the target right behind it', async (t) => {
    const answer = 'HTTP/1.1 200 Connection established\r\nProxy-Agent: slow\r\n\r\nBANNER';
    const proxy = await scriptedProxy(t, async (socket) => {
      socket.setNoDelay(true);
      for (const c of answer.slice(0, -6)) {
        socket.write(c);
        await sleep(1);
      }
      socket.write(answer.slice(-6));
    });
    const socket = await connected(t, proxy.port);
    await within(proxyConnect(socket, plainProxy(proxy.port), TARGET), 5000, 'the CONNECT');
    // What a server that speaks first (MySQL's greeting) sent is there for the protocol's reader.
    assert.equal((await within(readExactly(socket, 6), 3000, 'the banner')).toString(), 'BANNER');
  });

  test('the answer and the target\'s first bytes in one segment', async (t) => {
    const proxy = await scriptedProxy(t, (socket) => socket.write('HTTP/1.0 200 OK\r\n\r\n\x0a\x00\x00\x00greeting'));
    const socket = await connected(t, proxy.port);
    await within(proxyConnect(socket, plainProxy(proxy.port), TARGET), 3000, 'the CONNECT');
    assert.deepEqual(await within(readExactly(socket, 12), 3000, 'the greeting'), Buffer.from('\x0a\x00\x00\x00greeting', 'latin1'));
  });

  test('an interim 100 before the 200, and bare LF line ends', async (t) => {
    const proxy = await scriptedProxy(t, (socket) => socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nX: y\n\nok'));
    const socket = await connected(t, proxy.port);
    await within(proxyConnect(socket, plainProxy(proxy.port), TARGET), 3000, 'the CONNECT');
    assert.equal((await readExactly(socket, 2)).toString(), 'ok');
  });

  test('line ends mixed within the answer (LF, then CRLF for the blank line)', async (t) => {
    const proxy = await scriptedProxy(t, (socket) => socket.write('HTTP/1.0 200 OK\nVia: x\r\n\r\nHELLO'));
    const socket = await connected(t, proxy.port);
    await within(proxyConnect(socket, plainProxy(proxy.port), TARGET), 3000, 'the CONNECT');
    assert.equal((await within(readExactly(socket, 5), 3000, 'the bytes after it')).toString(), 'HELLO');
    const bare = await scriptedProxy(t, (s) => s.write('HTTP/1.0 200 OK\n\r\nHELLO'));
    const second = await connected(t, bare.port);
    await within(proxyConnect(second, plainProxy(bare.port), TARGET), 3000, 'the CONNECT ending LF CR LF');
    assert.equal((await within(readExactly(second, 5), 3000, 'the bytes after it')).toString(), 'HELLO');
  });

  test('any 2xx is a tunnel', async (t) => {
    const proxy = await scriptedProxy(t, (socket) => socket.write('HTTP/1.1 204 No Content\r\n\r\n'));
    await within(proxyConnect(await connected(t, proxy.port), plainProxy(proxy.port), TARGET), 3000, 'the CONNECT');
  });

  test('a refusal carries its status line and Proxy-Authenticate challenges', async (t) => {
    const proxy = await scriptedProxy(t, (socket) => socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate\r\nproxy-authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n'));
    const error = await proxyConnect(await connected(t, proxy.port), plainProxy(proxy.port), TARGET).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ProxyError);
    assert.equal(error.code, 'ERR_MTLS_PROXY_STATUS');
    assert.deepEqual(error.reply, { status: 407, statusLine: 'HTTP/1.1 407 Proxy Authentication Required', authenticate: ['Negotiate', 'Basic realm="corp"'] });
    assert.equal(error.message, `the proxy http://127.0.0.1:${proxy.port} answered the CONNECT to db.internal:5432 with "HTTP/1.1 407 Proxy Authentication Required"`);
  });

  test(`headers that never end are cut off past ${MAX_PROXY_HEADER_BYTES / 1024} KiB`, async (t) => {
    const proxy = await scriptedProxy(t, async (socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      for (let i = 0; i < 40 && !socket.destroyed; i++) {
        socket.write(`X-Filler-${i}: ${'x'.repeat(1000)}\r\n`);
        await sleep(1);
      }
    });
    const error = await within(proxyConnect(await connected(t, proxy.port), plainProxy(proxy.port), TARGET).then(() => undefined, (e: unknown) => e), 5000, 'the bound');
    assert.ok(error instanceof ProxyError);
    assert.equal(error.code, 'ERR_MTLS_PROXY_NOT_HTTP');
    assert.equal(error.message, `the proxy http://127.0.0.1:${proxy.port} sent more than 16 KiB without ending the headers of its answer`);
  });

  test('what is not HTTP is told apart: TLS, SOCKS, a banner', async (t) => {
    const cases: [string | Buffer, RegExp][] = [
      [Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]), /answered in TLS: the port speaks https:\/\/, which is not supported; use its http:\/\/ port$/],
      [Buffer.from([0x05, 0xff]), /answered like a SOCKS proxy, which is not supported; use an HTTP CONNECT proxy$/],
      ['SSH-2.0-OpenSSH_9.2\r\n', /answered something that is not HTTP: "SSH-2.0-OpenSSH_9.2"$/],
      ['HTTP/1.1 OK\r\n\r\n', /answered something that is not HTTP: "HTTP\/1.1 OK"$/],
    ];
    for (const [reply, message] of cases) {
      const proxy = await scriptedProxy(t, (socket) => socket.write(reply));
      const error = await within(proxyConnect(await connected(t, proxy.port), plainProxy(proxy.port), TARGET).then(() => undefined, (e: unknown) => e), 3000, 'the answer');
      assert.ok(error instanceof ProxyError, String(error));
      assert.equal(error.code, 'ERR_MTLS_PROXY_NOT_HTTP');
      assert.match(error.message, message);
    }
  });

  test('a close before or in the middle of the answer', async (t) => {
    for (const [reply, message] of [
      ['', /closed the connection without answering the CONNECT to db\.internal:5432$/],
      ['HTTP/1.1 200 Connection est', /closed the connection in the middle of its answer to the CONNECT$/],
    ] as const) {
      const proxy = await scriptedProxy(t, (socket) => socket.end(reply));
      const error = await within(proxyConnect(await connected(t, proxy.port), plainProxy(proxy.port), TARGET).then(() => undefined, (e: unknown) => e), 3000, 'the close');
      assert.ok(error instanceof ProxyError);
      assert.equal(error.code, 'ERR_MTLS_PROXY_CLOSED');
      assert.match(error.message, message);
    }
  });
});

describe('dialling through a proxy', () => {
  test('TLS runs inside the tunnel; SNI and verification use the target\'s server name', async (t) => {
    const server = await sniEcho(t);
    const proxy = await relay(t);
    const config = tunnelConfig(pki(), server.port, { proxy: `http://127.0.0.1:${proxy.port}` });
    const credentials = await loadCredentials(config);
    const upstream = await dialUpstream(config, credentials);
    t.after(() => upstream.socket.destroy());
    assert.equal(upstream.handshake.version.startsWith('TLSv1.'), true);
    assert.ok(upstream.timings.proxyMs !== undefined && upstream.timings.proxyMs >= 0);
    upstream.socket.write('ping');
    assert.equal((await within(readExactly(upstream.socket as unknown as net.Socket, 4), 3000, 'the echo')).toString(), 'ping');
    assert.deepEqual(server.names, ['localhost']);
    assert.deepEqual(proxy.heads.map((h) => h.split('\r\n')[0]), [`CONNECT 127.0.0.1:${server.port} HTTP/1.1`]);
  });

  test('a half-close travels through a proxy that keeps one: the server\'s late answer still arrives', async (t) => {
    const sink = await startMtlsServer(pki(), { handler: sinkHandler });
    t.after(() => sink.close());
    // A relay that keeps half-open connections (tinyproxy does not: it ends both directions).
    const relayServer = net.createServer({ allowHalfOpen: true }, (client) => {
      client.on('error', () => undefined);
      void readHead(client).then(() => {
        const upstream = net.connect({ host: '127.0.0.1', port: sink.port, allowHalfOpen: true }, () => {
          client.write('HTTP/1.1 200 Connection established\r\n\r\n');
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
        upstream.on('error', () => client.destroy());
      });
    });
    await listenLocal(relayServer);
    t.after(() => new Promise<void>((resolve) => relayServer.close(() => resolve())));
    const tunnel = await startTunnel(t, tunnelConfig(pki(), sink.port, { proxy: `http://127.0.0.1:${(relayServer.address() as net.AddressInfo).port}` }));
    const client = await connectLocal(t, tunnelPort(tunnel));
    const data = randomBytes(MB);
    const answer = readToEnd(client, 10_000);
    await writeAll(client, data);
    assert.equal((await answer).data!.toString(), `${data.length} ${sha256(data)}\n`);
  });

  test('the doctor leaves the target\'s name to the proxy: one only the proxy resolves still checks OK', async (t) => {
    const server = await sniEcho(t);
    const proxy = await relay(t, { port: server.port });
    const report = await checkTunnel(tunnelConfig(pki(), 443, { target: 'only-the-proxy-knows.invalid:443', serverName: 'localhost', proxy: `http://127.0.0.1:${proxy.port}` }));
    assert.equal(report.verdict, 'ok', JSON.stringify(report.diagnoses));
    assert.equal(report.address, undefined, 'the target is not looked up here');
    assert.deepEqual(report.proxy, { url: `http://127.0.0.1:${proxy.port}`, source: 'settings', address: '127.0.0.1' });
    assert.ok(report.timings?.proxyMs !== undefined);
    assert.equal(proxy.heads[0].split('\r\n')[0], 'CONNECT only-the-proxy-knows.invalid:443 HTTP/1.1');
  });

  test('a plaintext target behind the proxy is quoted, not the proxy\'s own 200', async (t) => {
    const web = await startRawServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
    t.after(() => web.close());
    const proxy = await relay(t);
    const report = await checkTunnel(tunnelConfig(pki(), web.port, { name: 'web', proxy: `http://127.0.0.1:${proxy.port}` }));
    const [d] = report.diagnoses;
    assert.equal(d.code, 'TARGET_SPEAKS_PLAINTEXT');
    assert.equal(d.summary, `Tunnel "web": 127.0.0.1:${web.port} answered in plaintext, not TLS: it said "HTTP/1.1 400 Bad Request".`);
  });
});

describe('what the doctor says about a proxy', () => {
  const check = async (t: TestContext, reply: string | Buffer | null, overrides: Record<string, unknown> = {}) => {
    const proxy = await scriptedProxy(t, (socket) => {
      if (reply !== null) socket.end(reply);
    });
    const report = await checkTunnel(tunnelConfig(pki(), 5432, { name: 'db', target: 'db.internal:5432', serverName: 'db.internal', proxy: `http://127.0.0.1:${proxy.port}`, connectTimeoutMs: 500, ...overrides }));
    assert.equal(report.verdict, 'failed');
    assert.equal(report.diagnoses.length, 1, JSON.stringify(report.diagnoses));
    return { d: report.diagnoses[0], url: `http://127.0.0.1:${proxy.port}` };
  };

  test('PROXY_AUTH_REQUIRED, and what to do when the proxy wants Kerberos or NTLM', async (t) => {
    const { d, url } = await check(t, 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate\r\nProxy-Authenticate: NTLM\r\n\r\n');
    assert.equal(d.code, 'PROXY_AUTH_REQUIRED');
    assert.equal(d.summary, `Tunnel "db": the proxy ${url} requires authentication (it answered "HTTP/1.1 407 Proxy Authentication Required").`);
    assert.equal(d.fix, 'It wants Negotiate, NTLM authentication, which mtls-tunnels does not speak (only Basic): run a local proxy that authenticates for you (such as cntlm or px) and point "proxy" at it.');
  });

  test('PROXY_TARGET_UNREACHABLE for a 502', async (t) => {
    const { d, url } = await check(t, 'HTTP/1.1 502 Bad Gateway\r\n\r\n');
    assert.equal(d.code, 'PROXY_TARGET_UNREACHABLE');
    assert.equal(d.summary, `Tunnel "db": the proxy ${url} could not reach db.internal:5432 (it answered "HTTP/1.1 502 Bad Gateway").`);
    assert.match(d.fix, /the proxy resolves the name itself/);
  });

  test('PROXY_REJECTED quotes any other status', async (t) => {
    const { d, url } = await check(t, 'HTTP/1.1 405 Method Not Allowed\r\n\r\n');
    assert.equal(d.code, 'PROXY_REJECTED');
    assert.equal(d.summary, `Tunnel "db": the proxy ${url} refused the CONNECT to db.internal:5432: it answered "HTTP/1.1 405 Method Not Allowed".`);
    assert.equal(d.fix, 'Check that "proxy" points at an HTTP proxy that allows CONNECT; a web server that is not a proxy answers like this too.');
  });

  test('PROXY_NO_REPLY when it hangs up, and when it never answers within connectTimeoutMs', async (t) => {
    const closed = await check(t, '');
    assert.equal(closed.d.code, 'PROXY_NO_REPLY');
    assert.equal(closed.d.summary, `Tunnel "db": the proxy ${closed.url} closed the connection without answering the CONNECT to db.internal:5432.`);
    // The sentence names the 400 ms: the tunnel's own deadline ended the wait, not the proxy.
    const silent = await check(t, null, { connectTimeoutMs: 400 });
    assert.equal(silent.d.code, 'PROXY_NO_REPLY');
    assert.equal(silent.d.summary, `Tunnel "db": the proxy ${silent.url} accepted the connection but did not answer the CONNECT to db.internal:5432 within 400 ms.`);
  });

  test('PROXY_NOT_HTTP for a TLS port', async (t) => {
    const { d, url } = await check(t, Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]));
    assert.equal(d.code, 'PROXY_NOT_HTTP');
    assert.equal(d.summary, `Tunnel "db": the proxy ${url} answered in TLS: the port speaks https://, which is not supported; use its http:// port.`);
    assert.equal(d.fix, 'Point "proxy" at the proxy\'s plain HTTP port (often 3128 or 8080).');
  });

  test('PROXY_UNREACHABLE names a proxy host that does not resolve (the target is not looked up)', async () => {
    const report = await checkTunnel(tunnelConfig(pki(), 5432, { name: 'db', target: 'db.internal:5432', proxy: 'http://proxy.does-not-exist.invalid:3128' }));
    const [d] = report.diagnoses;
    assert.equal(d.code, 'PROXY_UNREACHABLE');
    assert.equal(d.summary, 'Tunnel "db": the proxy host proxy.does-not-exist.invalid cannot be resolved.');
    assert.equal(d.fix, 'Check the proxy\'s host name in "proxy", your VPN, or your DNS settings.');
  });

  test('from HTTPS_PROXY, the fix names the variable', async (t) => {
    const proxy = await scriptedProxy(t, (socket) => socket.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n'));
    // As "proxy": "env" resolves it from HTTPS_PROXY (built by hand: this process's own environment may hold anything).
    const config = tunnelConfig(pki(), 5432, { name: 'db', target: 'db.internal:5432' });
    const report = await checkTunnel({ ...config, proxy: { ...plainProxy(proxy.port), source: 'HTTPS_PROXY' }, proxyBypass: undefined });
    assert.equal(report.diagnoses[0].fix, 'Check that HTTPS_PROXY (read because "proxy" is "env") points at an HTTP proxy that allows CONNECT; a web server that is not a proxy answers like this too.');
  });
});
