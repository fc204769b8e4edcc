/**
 * The `proxy` field: what an explicit URL may hold (http:// only, a port, a password only from
 * the environment), how `"env"` reads HTTPS_PROXY / ALL_PROXY and NO_PROXY, that every error
 * names the tunnel and the field, and that no message ever repeats a password.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { TunnelConfig } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';
import { noProxyMatch, proxyFromEnvironment, redactUrl } from '../../src/core/config/proxy';
import { VariableContext } from '../../src/core/config/variables';

const ABS = path.resolve('/certs');
const base = { name: 'db', listen: 15432, target: 'db.internal:5432', cert: `${ABS}/client.crt`, key: `${ABS}/client.key` };
const SECRET = 'pa:ss@w/rd%';

function ok(proxy: unknown, env: NodeJS.ProcessEnv = {}, overrides: Record<string, unknown> = {}): TunnelConfig {
  const { tunnels, errors } = parseTunnels([{ ...base, proxy, ...overrides }], { env } satisfies VariableContext);
  assert.deepEqual(errors.map(String), []);
  return tunnels[0];
}

/** The one error a bad `proxy` gives, as printed. */
function bad(proxy: unknown, env: NodeJS.ProcessEnv = {}, overrides: Record<string, unknown> = {}): string {
  const { tunnels, errors } = parseTunnels([{ ...base, proxy, ...overrides }], { env });
  assert.equal(tunnels.length, 0, 'a bad entry is left out');
  assert.equal(errors.length, 1, errors.map(String).join('\n'));
  assert.equal(errors[0].tunnel, 'db');
  assert.equal(errors[0].field, 'proxy');
  return String(errors[0]);
}

describe('proxy: an explicit http:// URL', () => {
  test('absent: no proxy, and nothing new on the tunnel', () => {
    const t = ok(undefined);
    assert.equal(t.proxy, undefined);
    assert.equal(t.proxyBypass, undefined);
    assert.ok(!('proxy' in t) && !('proxyBypass' in t));
  });

  test('http://host:port', () => {
    assert.deepEqual(ok('http://proxy.corp:3128').proxy, { host: 'proxy.corp', port: 3128, auth: undefined, url: 'http://proxy.corp:3128', source: 'settings', credentialsFrom: undefined });
  });

  test('a trailing slash, an upper-case scheme, an IPv4 and an IPv6 host', () => {
    assert.equal(ok('http://proxy.corp:3128/').proxy?.url, 'http://proxy.corp:3128');
    assert.equal(ok('HTTP://proxy.corp:8080').proxy?.port, 8080);
    assert.deepEqual([ok('http://10.0.0.5:3128').proxy?.host, ok('http://[2001:db8::5]:3128').proxy?.host], ['10.0.0.5', '2001:db8::5']);
    assert.equal(ok('http://[2001:db8::5]:3128').proxy?.url, 'http://[2001:db8::5]:3128');
  });

  test('host and port from the environment', () => {
    assert.deepEqual(ok('http://${env:PROXY_HOST}:${env:PROXY_PORT}', { PROXY_HOST: 'p.corp', PROXY_PORT: '3128' }).proxy?.url, 'http://p.corp:3128');
  });

  test('credentials: a user name and a password from ${env:…}, neither shown', () => {
    const t = ok('http://alice:${env:PROXY_PASSWORD}@proxy.corp:3128', { PROXY_PASSWORD: SECRET });
    assert.deepEqual(t.proxy?.auth, { username: 'alice', password: SECRET });
    assert.equal(t.proxy?.url, 'http://***@proxy.corp:3128');
    assert.equal(t.proxy?.credentialsFrom, 'alice:${env:PROXY_PASSWORD}');
    const u = ok('http://${env:PROXY_USER}:${env:PROXY_PASSWORD}@proxy.corp:3128', { PROXY_USER: 'bob@corp', PROXY_PASSWORD: SECRET });
    assert.deepEqual(u.proxy?.auth, { username: 'bob@corp', password: SECRET }, 'values are taken as they are: no percent-encoding needed');
    assert.equal(ok('http://token@proxy.corp:3128').proxy?.auth?.password, '', 'a user name alone');
  });

  test('the whole URL from one variable, credentials and all', () => {
    const t = ok('${env:CORP_PROXY}', { CORP_PROXY: 'http://carol:s%40cret@proxy.corp:3128' });
    assert.deepEqual(t.proxy?.auth, { username: 'carol', password: 's@cret' });
    assert.equal(t.proxy?.source, '${env:CORP_PROXY}');
    assert.equal(t.proxy?.credentialsFrom, '${env:CORP_PROXY}');
  });

  test('exact messages for what it cannot be', () => {
    const cases: [unknown, string][] = [
      [3128, 'tunnel "db": proxy: must be "http://host:port" or "env", not number 3128'],
      ['', 'tunnel "db": proxy: must be "http://host:port" or "env", not ""'],
      [{ url: 'http://p:1' }, 'tunnel "db": proxy: must be "http://host:port" or "env", not an object'],
      ['proxy.corp:3128', 'tunnel "db": proxy: "proxy.corp:3128" has no scheme; write "http://proxy.corp:3128" (only http:// proxies are supported)'],
      ['socks5://proxy.corp:1080', 'tunnel "db": proxy: SOCKS proxies (socks5://) are not supported; only HTTP CONNECT proxies (http://host:port)'],
      ['socks5h://proxy.corp:1080', 'tunnel "db": proxy: SOCKS proxies (socks5h://) are not supported; only HTTP CONNECT proxies (http://host:port)'],
      ['https://proxy.corp:3129', "tunnel \"db\": proxy: https:// proxies (TLS to the proxy) are not supported; use the proxy's http:// port: the tunnel's own TLS runs end to end inside the CONNECT tunnel either way"],
      ['ftp://proxy.corp:21', 'tunnel "db": proxy: unsupported scheme "ftp://"; only HTTP CONNECT proxies (http://host:port) are supported'],
      ['http://proxy.corp', 'tunnel "db": proxy: "http://proxy.corp" has no port; write it out, e.g. "http://proxy.corp:3128"'],
      ['http://proxy.corp:', 'tunnel "db": proxy: "http://proxy.corp:" has no port; write it out, e.g. "http://proxy.corp:3128"'],
      ['http://proxy.corp:0', 'tunnel "db": proxy: proxy port 0 is out of range (1-65535)'],
      ['http://proxy.corp:70000', 'tunnel "db": proxy: proxy port 70000 is out of range (1-65535)'],
      ['http://proxy.corp:3128/pac', 'tunnel "db": proxy: "http://proxy.corp:3128/pac" has a path, query or fragment; write just "http://host:port"'],
      ['http://proxy.corp:3128?x=1', 'tunnel "db": proxy: "http://proxy.corp:3128?x=1" has a path, query or fragment; write just "http://host:port"'],
      ['http://bad_host!:3128', 'tunnel "db": proxy: "bad_host!" is not a valid proxy host name'],
      ['http://[zz::1]:3128', 'tunnel "db": proxy: "http://[zz::1]:3128" is not "http://host:port" (IPv6 as "http://[::1]:3128")'],
      ['http://:3128', 'tunnel "db": proxy: "http://:3128" is not "http://host:port" (IPv6 as "http://[::1]:3128")'],
      ['http://${env:NOPE_HOST}:3128', 'tunnel "db": proxy: environment variable NOPE_HOST is not set (used as ${env:NOPE_HOST})'],
      ['http://alice:${env:NOPE_PW}@proxy.corp:3128', 'tunnel "db": proxy: environment variable NOPE_PW is not set (used as ${env:NOPE_PW})'],
      ['http://:${env:PW}@proxy.corp:3128', 'tunnel "db": proxy: "http://***@proxy.corp:3128" has credentials without a user name; write "http://USER:${env:PROXY_PASSWORD}@host:port"'],
      ['ENV', 'tunnel "db": proxy: write "env" in lower case to use HTTPS_PROXY and NO_PROXY, not "ENV"'],
      ['${env:NOPE_PROXY}', 'tunnel "db": proxy: environment variable NOPE_PROXY is not set (used as ${env:NOPE_PROXY})'],
      ['${env:CORP_PROXY}', 'tunnel "db": proxy: ${env:CORP_PROXY} is "socks5://***@gw:1080": SOCKS proxies (socks5://) are not supported; only HTTP CONNECT proxies (http://host:port)'],
    ];
    for (const [value, message] of cases) assert.equal(bad(value, { PW: 'x', CORP_PROXY: `socks5://u:${SECRET}@gw:1080` }), message, `for ${JSON.stringify(value)}`);
  });

  test('a password written in settings is refused, and not repeated in the message', () => {
    const message = bad(`http://alice:${SECRET}@proxy.corp:3128`);
    assert.equal(message, 'tunnel "db": proxy: the proxy password must be an environment reference, like "http://alice:${env:PROXY_PASSWORD}@proxy.corp:3128"; a password is never written in settings');
    for (const text of [`socks5://alice:${SECRET}@proxy.corp:1080`, `alice:${SECRET}@proxy.corp:3128`, `http://alice:${SECRET}@proxy.corp`]) {
      const m = bad(text);
      assert.ok(!m.includes(SECRET) && !m.includes('pa:ss'), `the password leaked: ${m}`);
    }
    assert.equal(bad(`alice:${SECRET}@proxy.corp:3128`), 'tunnel "db": proxy: "***@proxy.corp:3128" has no scheme; write "http://***@proxy.corp:3128" (only http:// proxies are supported)');
  });

  test('a bad proxy and a bad target are both reported', () => {
    const { errors } = parseTunnels([{ ...base, target: 'db.internal', proxy: 'socks5://p:1' }], { env: {} });
    assert.deepEqual(errors.map((e) => e.field).sort(), ['proxy', 'target']);
  });
});

describe('proxy: "env"', () => {
  test('HTTPS_PROXY, read as curl, Go and Node read it', () => {
    const t = ok('env', { HTTPS_PROXY: 'http://proxy.corp:3128' });
    assert.deepEqual(t.proxy, { host: 'proxy.corp', port: 3128, auth: undefined, url: 'http://proxy.corp:3128', source: 'HTTPS_PROXY', credentialsFrom: undefined });
    assert.equal(t.proxyBypass, undefined);
  });

  test('https_proxy before HTTPS_PROXY, either before ALL_PROXY; an empty one counts as unset', () => {
    assert.equal(ok('env', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' }).proxy?.source, 'https_proxy');
    assert.equal(ok('env', { HTTPS_PROXY: 'http://upper:2', ALL_PROXY: 'http://all:3' }).proxy?.host, 'upper');
    assert.equal(ok('env', { https_proxy: '', ALL_PROXY: 'http://all:3' }).proxy?.source, 'ALL_PROXY');
    assert.equal(ok('env', { all_proxy: 'http://all:3' }).proxy?.source, 'all_proxy');
  });

  test('HTTP_PROXY alone is not used: the tunnel carries TLS, like an https:// URL', () => {
    const t = ok('env', { HTTP_PROXY: 'http://proxy.corp:3128', http_proxy: 'http://proxy.corp:3128' });
    assert.equal(t.proxy, undefined);
    assert.equal(t.proxyBypass, 'neither HTTPS_PROXY nor ALL_PROXY is set');
  });

  test('a scheme-less HTTPS_PROXY means http://; credentials in it are percent-decoded and never shown', () => {
    const t = ok('env', { HTTPS_PROXY: 'proxy.corp:3128' });
    assert.equal(t.proxy?.url, 'http://proxy.corp:3128');
    const u = ok('env', { HTTPS_PROXY: `http://alice:${encodeURIComponent(SECRET)}@proxy.corp:3128` });
    assert.deepEqual(u.proxy?.auth, { username: 'alice', password: SECRET });
    assert.equal(u.proxy?.url, 'http://***@proxy.corp:3128');
    assert.equal(u.proxy?.credentialsFrom, 'HTTPS_PROXY');
  });

  test('NO_PROXY (or no_proxy) sends the target direct, and says which entry matched', () => {
    const t = ok('env', { HTTPS_PROXY: 'http://proxy.corp:3128', NO_PROXY: 'localhost, .internal' });
    assert.equal(t.proxy, undefined);
    assert.equal(t.proxyBypass, 'NO_PROXY entry ".internal" matches db.internal');
    assert.equal(ok('env', { HTTPS_PROXY: 'http://p:1', no_proxy: 'db.internal', NO_PROXY: 'other' }).proxyBypass, 'no_proxy entry "db.internal" matches db.internal');
    assert.equal(ok('env', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'other.internal' }).proxy?.host, 'p');
  });

  test('a loopback target is never proxied from the environment, even without NO_PROXY', () => {
    for (const target of ['127.0.0.1:5432', 'localhost:5432', '[::1]:5432']) {
      const t = ok('env', { HTTPS_PROXY: 'http://proxy.corp:3128' }, { target });
      assert.equal(t.proxy, undefined, target);
      assert.match(t.proxyBypass ?? '', /is a loopback address, which "env" never sends through a proxy$/);
    }
    assert.equal(ok('http://proxy.corp:3128', {}, { target: '127.0.0.1:5432' }).proxy?.host, 'proxy.corp', 'an explicit proxy is used for any target');
  });

  test('no HTTPS_PROXY at all: direct, and why', () => {
    assert.equal(ok('env', {}).proxyBypass, 'neither HTTPS_PROXY nor ALL_PROXY is set');
  });

  test('exact messages for an HTTPS_PROXY it cannot use, with its credentials redacted', () => {
    const cases: [NodeJS.ProcessEnv, string][] = [
      [{ HTTPS_PROXY: `socks5://alice:${SECRET}@gw:1080` }, 'tunnel "db": proxy: "env" reads HTTPS_PROXY="socks5://***@gw:1080": SOCKS proxies (socks5://) are not supported; only HTTP CONNECT proxies (http://host:port)'],
      [{ ALL_PROXY: 'socks5h://gw:1080' }, 'tunnel "db": proxy: "env" reads ALL_PROXY="socks5h://gw:1080": SOCKS proxies (socks5h://) are not supported; only HTTP CONNECT proxies (http://host:port)'],
      [{ https_proxy: 'https://proxy.corp:3129' }, "tunnel \"db\": proxy: \"env\" reads https_proxy=\"https://proxy.corp:3129\": https:// proxies (TLS to the proxy) are not supported; use the proxy's http:// port: the tunnel's own TLS runs end to end inside the CONNECT tunnel either way"],
      [{ HTTPS_PROXY: 'http://proxy.corp' }, 'tunnel "db": proxy: "env" reads HTTPS_PROXY="http://proxy.corp": has no port; write it out, e.g. "http://proxy.corp:3128"'],
      [{ HTTPS_PROXY: 'http://proxy.corp:3128/x' }, 'tunnel "db": proxy: "env" reads HTTPS_PROXY="http://proxy.corp:3128/x": has a path, query or fragment; a proxy is just "http://host:port"'],
      [{ HTTPS_PROXY: 'http://pro xy:3128' }, 'tunnel "db": proxy: "env" reads HTTPS_PROXY="http://pro xy:3128": not a proxy URL; it should look like "http://proxy.corp:3128"'],
    ];
    for (const [env, message] of cases) {
      const m = bad('env', env);
      assert.equal(m, message);
      assert.ok(!m.includes(SECRET));
    }
  });

  test('NO_PROXY is consulted before HTTPS_PROXY is judged: an exempt target does not care', () => {
    assert.equal(ok('env', { HTTPS_PROXY: 'socks5://gw:1080', NO_PROXY: '*' }).proxyBypass, 'NO_PROXY entry "*" matches db.internal');
  });
});

describe('noProxyMatch', () => {
  const at = (host: string, port = 443) => ({ host, port });
  const cases: [string, string, number, string | undefined][] = [
    // list, target host, target port, the entry that matches
    ['*', 'anything.example', 443, '*'],
    ['a.example, *', 'b.example', 443, '*'],
    ['corp.example', 'corp.example', 443, 'corp.example'],
    ['corp.example', 'db.corp.example', 443, 'corp.example'],
    ['corp.example', 'a.b.corp.example', 443, 'corp.example'],
    ['corp.example', 'notcorp.example', 443, undefined],
    ['corp.example', 'corp.example.evil', 443, undefined],
    ['.corp.example', 'db.corp.example', 443, '.corp.example'],
    ['.corp.example', 'corp.example', 443, '.corp.example'],
    ['*.corp.example', 'db.corp.example', 443, '*.corp.example'],
    ['CORP.Example', 'DB.corp.EXAMPLE', 443, 'CORP.Example'],
    ['corp.example.', 'db.corp.example', 443, 'corp.example.'],
    ['corp.example', 'db.corp.example.', 443, 'corp.example'],
    ['db.internal:5432', 'db.internal', 5432, 'db.internal:5432'],
    ['db.internal:5432', 'db.internal', 5433, undefined],
    ['.internal:443', 'db.internal', 443, '.internal:443'],
    ['10.1.2.3', '10.1.2.3', 443, '10.1.2.3'],
    ['10.1.2.3', '10.1.2.30', 443, undefined],
    ['10.1.2.3:5432', '10.1.2.3', 5432, '10.1.2.3:5432'],
    ['10.0.0.0/8', '10.200.3.4', 443, '10.0.0.0/8'],
    ['10.0.0.0/8', '11.0.0.1', 443, undefined],
    ['192.168.0.0/16', 'db.internal', 443, undefined],
    ['2001:db8::1', '2001:db8::1', 443, '2001:db8::1'],
    ['2001:db8::1', '2001:db8:0:0::1', 443, '2001:db8::1'],
    ['[2001:db8::1]:5432', '2001:db8::1', 5432, '[2001:db8::1]:5432'],
    ['[2001:db8::1]:5432', '2001:db8::1', 443, undefined],
    ['[2001:db8::1]', '2001:db8::1', 443, '[2001:db8::1]'],
    ['2001:db8::/32', '2001:db8:ffff::7', 443, '2001:db8::/32'],
    ['10.0.0.0/99', '10.0.0.1', 443, undefined],
    ['1.2.3.4', 'example.com', 443, undefined],
    ['example.com', '1.2.3.4', 443, undefined],
    ['', 'example.com', 443, undefined],
    [' , ,', 'example.com', 443, undefined],
    ['a.example b.example\tc.example', 'c.example', 443, 'c.example'],
    ['.', 'example.com', 443, undefined],
  ];
  for (const [list, host, port, expected] of cases) {
    test(`${JSON.stringify(list)} for ${host}:${port} → ${expected ?? 'proxied'}`, () => {
      assert.equal(noProxyMatch(list, at(host, port)), expected);
    });
  }

  test('proxyFromEnvironment uses it as the tunnel does', () => {
    const r = proxyFromEnvironment(at('api.corp.example', 443), { HTTPS_PROXY: 'http://p:3128', NO_PROXY: '10.0.0.0/8,.corp.example' });
    assert.deepEqual(r, { ok: true, bypass: 'NO_PROXY entry ".corp.example" matches api.corp.example' });
  });
});

describe('redactUrl', () => {
  test('replaces everything up to the last @, however odd the user info', () => {
    assert.equal(redactUrl('http://u:p@h:1'), 'http://***@h:1');
    assert.equal(redactUrl('http://u:p@ss@h:1/x'), 'http://***@h:1/x');
    assert.equal(redactUrl('u:p@h:1'), '***@h:1');
    assert.equal(redactUrl('http://h:1'), 'http://h:1');
    assert.equal(redactUrl(`http://u:${SECRET}@h:1`), 'http://***@h:1');
    assert.equal(redactUrl('socks5://u:p/q@h:1'), 'socks5://***@h:1');
  });
});
