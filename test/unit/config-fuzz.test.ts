/**
 * A bounded property test of the config parser: a few thousand random settings (seeded, so a
 * failure reproduces) mixing plausible and hostile values. The parser never throws, every error
 * names its tunnel and field (only "this is not an object/array" speaks of a whole entry), every
 * tunnel it returns keeps the model's promises, and parsing is deterministic. `proxy` gets its own
 * run: explicit URLs good and bad, "env" over random HTTPS_PROXY / NO_PROXY, credentials from
 * `${env:…}`, and a proxy password that must never appear in a message or a shown URL.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, PROTOCOLS, TLS_VERSIONS, TunnelConfig, isLoopbackHost } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';
import { VariableContext } from '../../src/core/config/variables';
import { prng } from '../support/tunnelKit';


const FIELDS = ['name', 'listen', 'unsafeListen', 'target', 'protocol', 'cert', 'key', 'pfx', 'passphrase', 'ca', 'serverName', 'verify', 'alpn', 'minTlsVersion', 'connectTimeoutMs', 'idleTimeoutMs', 'maxConnections', 'autoStart', 'proxy'];

/** A proxy password in the environment: no error message and no shown URL may repeat it. */
const SECRET = 's3cr3t-Fuzz%40pw';

function generator(seed: number) {
  const r = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)];
  const chance = (p: number) => r() < p;

  const junkStrings = ['', ' ', 'x', '~', '~/', '${', '${}', '${env:}', '${env:UNSET_FUZZ}', '${env:FUZZ_SET}', '${workspaceFolder}', '${userHome}', '${nope}',
    ':', '::', '[::1]', '[::1]:', ':80', 'a:b', 'host:99999', '0.0.0.0:1', '[::]:1', '\u0000', 'é:1', '"quoted"', 'constructor', '__proto__', 'toString',
    '#1', '*', 'a'.repeat(300), 'DNS:', 'IP:', 'URI:x', '../../etc/passwd', 'C:\\certs\\a.crt', '\n', 'TLSv1.1', 'tls ', 'postgres\u200b'];
  const junk = (depth: number): unknown => {
    switch (int(0, depth > 2 ? 4 : 7)) {
      case 0: return pick(junkStrings);
      case 1: return pick([0, -1, 1, 0.5, -0, 65535, 65536, 1e21, Number.MAX_SAFE_INTEGER, -1e-7, 100, 600_000]);
      case 2: return chance(0.5);
      case 3: return null;
      case 4: return Array.from({ length: 3 }, () => String.fromCharCode(int(32, 0x2fff))).join('');
      case 5: return Array.from({ length: int(0, 3) }, () => junk(depth + 1));
      case 6: return Object.fromEntries(Array.from({ length: int(0, 3) }, () => [pick([...FIELDS, 'subjectAltNames', 'spkiSha256', 'x', '__proto__']), junk(depth + 1)]));
      default: return undefined;
    }
  };
  const plausible: Record<string, () => unknown> = {
    name: () => pick(['db', 'api', 'redis', 'db', 'cache-1', 'Ünïcode tunnel']),
    listen: () => pick([0, 15432, '16379', '127.0.0.1:1', 'localhost:2', '[::1]:3', '0.0.0.0:4']),
    unsafeListen: () => chance(0.5),
    target: () => pick(['db.internal:5432', '10.0.0.1:443', '[2001:db8::1]:6379', 'localhost:1', '${env:FUZZ_SET}:80']),
    protocol: () => pick([...PROTOCOLS, 'postgress', 'TLS']),
    cert: () => pick(['/c/client.crt', 'certs/client.crt', '${workspaceFolder}/c.crt', '~/c.crt', '${userHome}/c.crt']),
    key: () => pick(['/c/client.key', 'client.key', '${env:FUZZ_SET}/k.key']),
    pfx: () => pick(['/c/client.p12', 'c.p12']),
    passphrase: () => pick(['${env:FUZZ_SET}', '${env:UNSET_FUZZ}', 'hunter2']),
    ca: () => pick(['/c/ca.pem', 'ca.pem']),
    serverName: () => pick(['db.internal', 'localhost', '10.0.0.1', 'bad name']),
    verify: () => ({ subjectAltNames: [pick(['DNS:db', 'URI:spiffe://x/y', 'IP:10.0.0.1', 'db'])], spkiSha256: chance(0.5) ? ['A'.repeat(43) + '='] : [pick(['A'.repeat(43) + '=', 'nope'])] }),
    alpn: () => [pick(['h2', 'postgresql', 'http/1.1'])],
    minTlsVersion: () => pick([...TLS_VERSIONS, 'TLSv1.1']),
    connectTimeoutMs: () => pick([100, 5000, 600_000, 99]),
    idleTimeoutMs: () => pick([0, 1000, -1]),
    maxConnections: () => pick([0, 10, 1.5]),
    autoStart: () => chance(0.5),
    proxy: () => pick([
      'env', 'ENV', ' env', 'http://proxy.corp:3128', 'http://proxy.corp:3128/', 'http://proxy.corp', 'http://proxy.corp:0', 'http://proxy.corp:99999',
      'https://proxy.corp:443', 'socks5://proxy.corp:1080', 'proxy.corp:3128', 'http://[::1]:3128', 'http://[::1:3128', 'http://p:3128/path', 'http://p:3128?q',
      'http://alice:${env:FUZZ_PROXY_PASSWORD}@proxy.corp:3128', 'http://alice@proxy.corp:3128', 'http://alice:hunter2@proxy.corp:3128',
      'http://${env:FUZZ_PROXY_USER}:${env:FUZZ_PROXY_PASSWORD}@proxy.corp:3128', 'http://:${env:FUZZ_PROXY_PASSWORD}@proxy.corp:3128',
      'http://alice:${env:UNSET_FUZZ}@proxy.corp:3128', 'http://alice:${env:FUZZ_PROXY_PASSWORD}x@proxy.corp:3128', 'http://a@b@proxy.corp:3128',
      'http://${env:FUZZ_SET}:3128', 'http://${env:UNSET_FUZZ}:3128', '${env:FUZZ_PROXY_URL}', '${env:UNSET_FUZZ}', '${env:FUZZ_PROXY_URL}/x',
      '', ' ', 'http://', 'http://:3128', 'ftp://x:21',
    ]),
  };

  let proxyHeavy = false;
  const entry = (): unknown => {
    if (chance(0.03)) return junk(1);
    const e: Record<string, unknown> = {};
    for (const f of FIELDS) {
      const required = ['name', 'listen', 'target', 'cert', 'key'].includes(f);
      const often = f === 'proxy' ? chance(proxyHeavy ? 0.9 : 0.25) : f === 'pfx' || f === 'passphrase' ? chance(0.08) : required ? chance(0.92) : chance(proxyHeavy ? 0.1 : 0.25);
      if (often) {
        // With the proxy in focus, the other fields are mostly sound, so that tunnels come through.
        e[f] = chance(proxyHeavy && f !== 'proxy' ? 0.97 : 0.85) ? plausible[f]() : junk(1);
      }
    }
    if (chance(0.05)) e[pick(['targt', 'lisen', 'x', 'certs', 'verify.spkiSha256'])] = junk(1);
    return e;
  };
  const settings = (): unknown => (chance(0.02) ? junk(0) : Array.from({ length: int(0, 5) }, entry));
  const maybe = (value: string): Record<string, string> => (chance(0.6) ? { [pick(['HTTPS_PROXY', 'https_proxy', 'ALL_PROXY'])]: value } : {});
  const vars = (): VariableContext => ({
    workspaceFolder: chance(0.6) ? '/ws' : undefined,
    userHome: '/home/fuzz',
    env: {
      FUZZ_SET: chance(0.5) ? 'value' : '/abs',
      FUZZ_PROXY_USER: pick(['bob', '', 'b@d:user']),
      FUZZ_PROXY_PASSWORD: pick([SECRET, '']),
      FUZZ_PROXY_URL: pick([`http://carol:${SECRET}@proxy.env:3128`, 'proxy.env:8080', 'http://proxy.env', `socks5://u:${SECRET}@x:1`, `http://u:${SECRET}@proxy.env:3128/p`, '', ' ', 'not a url ::']),
      ...maybe(pick(['http://proxy.env:3128', 'proxy.env:8080', `http://dave:${SECRET}@proxy.env:3128`, `http://dave:${SECRET}@proxy.env`, 'socks5://proxy.env:1080', 'http://bad host:1', '::', `https://e:${SECRET}@p:443`])),
      ...(chance(0.4) ? { [pick(['NO_PROXY', 'no_proxy'])]: pick(['*', 'db.internal', '.internal', 'localhost,10.0.0.1', '10.0.0.0/8', '', ',,', '[2001:db8::1]']) } : {}),
    },
  });
  const focusOnProxy = () => {
    proxyHeavy = true;
  };
  return { settings, vars, focusOnProxy };
}

function checkError(e: ConfigError): void {
  assert.ok(e instanceof ConfigError);
  assert.equal(typeof e.tunnel, 'string');
  assert.ok(e.tunnel.length > 0, 'names a tunnel');
  assert.ok(e.message.length > 0);
  const text = String(e);
  assert.ok(text.includes(e.tunnel), `"${text}" names its tunnel`);
  if (e.field === '') {
    assert.match(e.message, /^(each tunnel must be an object|mtlsTunnels\.tunnels must be an array)/, `only a whole-entry problem has no field: ${text}`);
  } else {
    assert.ok(text.includes(`${e.field}: `), `"${text}" names its field`);
  }
}

function checkTunnel(t: TunnelConfig): void {
  assert.ok(t.name.length > 0 && t.name === t.name.trim());
  const port = t.listen.port ?? -1;
  assert.ok(Number.isInteger(port) && port >= 0 && port <= 65535);
  assert.ok(isLoopbackHost(t.listen.host ?? '') || t.unsafeListen, `listen ${t.listen.host} needs unsafeListen`);
  assert.ok(Number.isInteger(t.target.port) && t.target.port >= 1 && t.target.port <= 65535);
  assert.ok(t.target.host.length > 0);
  assert.ok((PROTOCOLS as readonly string[]).includes(t.protocol));
  assert.ok((TLS_VERSIONS as readonly string[]).includes(t.minTlsVersion));
  // cert with key, cert alone (a combined PEM), or pfx alone; never key without cert.
  assert.ok((t.cert !== undefined && t.pfx === undefined) || (t.pfx !== undefined && t.cert === undefined && t.key === undefined));
  for (const p of [t.cert, t.key, t.pfx, t.ca]) if (p !== undefined) assert.ok(path.isAbsolute(p), `${p} is absolute`);
  assert.ok(t.serverName.length > 0);
  assert.ok(t.verify.subjectAltNames.every((s) => /^(DNS|IP|URI|email):./.test(s)));
  assert.ok(t.verify.spkiSha256.every((s) => /^[A-Za-z0-9+/]{43}=$/.test(s)));
  assert.ok(t.alpn.every((s) => typeof s === 'string' && s.length > 0 && Buffer.byteLength(s) <= 255));
  assert.ok(t.connectTimeoutMs >= 100 && t.connectTimeoutMs <= 600_000);
  assert.ok(t.idleTimeoutMs >= 0 && t.maxConnections >= 0);
  assert.equal(typeof t.autoStart, 'boolean');
  assert.ok(t.passphrase === undefined || t.passphrase === 'value' || t.passphrase === '/abs');
  if (t.proxy) {
    assert.ok(t.proxy.host.length > 0 && Number.isInteger(t.proxy.port) && t.proxy.port >= 1 && t.proxy.port <= 65535, `proxy ${t.proxy.host}:${t.proxy.port}`);
    assert.ok(!t.proxy.url.includes(SECRET) && !t.proxy.url.includes(decodeURIComponent(SECRET)), `the shown proxy URL ${t.proxy.url} hides the password`);
    assert.ok(!(t.proxy.credentialsFrom ?? '').includes(SECRET), 'credentialsFrom names where the password is, not what it is');
    assert.equal(t.proxyBypass, undefined, 'a proxy in use is not also bypassed');
  }
}

/** Runs `count` cases; returns how many tunnels, errors and `proxy` errors came out. */
function fuzz(seed: number, count: number, proxyHeavy: boolean) {
  const gen = generator(seed);
  if (proxyHeavy) gen.focusOnProxy();
  const totals = { tunnels: 0, errors: 0, proxyErrors: 0, proxied: 0, bypassed: 0 };
  for (let i = 0; i < count; i++) {
    const raw = gen.settings();
    const vars = gen.vars();
    let result;
    try {
      result = parseTunnels(raw, vars);
    } catch (e) {
      assert.fail(`case ${i} (seed ${seed}) threw ${String(e)} for ${JSON.stringify(raw)}`);
    }
    try {
      for (const e of result.errors) checkError(e);
      for (const t of result.tunnels) checkTunnel(t);
      for (const e of result.errors) {
        assert.ok(!String(e).includes(SECRET) && !String(e).includes(decodeURIComponent(SECRET)), `"${String(e)}" repeats the proxy password`);
      }
      assert.equal(new Set(result.tunnels.map((t) => t.name)).size, result.tunnels.length, 'names are unique');
      if (Array.isArray(raw)) assert.ok(result.tunnels.length <= raw.length);
      assert.deepEqual(parseTunnels(raw, vars), result, 'deterministic');
    } catch (e) {
      assert.fail(`case ${i} (seed ${seed}) for ${JSON.stringify(raw)} with ${JSON.stringify(vars.env)}: ${(e as Error).message}`);
    }
    totals.tunnels += result.tunnels.length;
    totals.errors += result.errors.length;
    totals.proxyErrors += result.errors.filter((e) => e.field === 'proxy').length;
    totals.proxied += result.tunnels.filter((t) => t.proxy).length;
    totals.bypassed += result.tunnels.filter((t) => t.proxyBypass).length;
  }
  return totals;
}

describe('config parser fuzz', () => {
  test('4000 random settings: never throws, every error names tunnel and field, every tunnel is valid', { timeout: 30_000 }, () => {
    const { tunnels, errors } = fuzz(0x6d7473, 4000, false);
    // The generator must exercise both paths, or the properties above say little.
    assert.ok(tunnels > 300, `${tunnels} valid tunnels parsed`);
    assert.ok(errors > 3000, `${errors} errors reported`);
  });

  test('3000 random settings heavy on proxy: "env", URLs good and bad, ${env:…} credentials; errors name "proxy" and never the password', { timeout: 30_000 }, (t) => {
    const totals = fuzz(0x70726f78, 3000, true);
    t.diagnostic(JSON.stringify(totals));
    // Every path taken: refusals on "proxy", tunnels through a proxy, and "env" going direct.
    assert.ok(totals.proxyErrors > 1000, `${totals.proxyErrors} proxy errors reported`);
    assert.ok(totals.proxied > 100, `${totals.proxied} tunnels through a proxy`);
    assert.ok(totals.bypassed > 10, `${totals.bypassed} tunnels where "env" goes direct`);
  });
});
