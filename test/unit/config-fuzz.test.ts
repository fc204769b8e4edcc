/**
 * A bounded property test of the config parser: a few thousand random settings (seeded, so a
 * failure reproduces) mixing plausible and hostile values. The parser never throws, every error
 * names its tunnel and field (only "this is not an object/array" speaks of a whole entry), every
 * tunnel it returns keeps the model's promises, and parsing is deterministic.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, PROTOCOLS, TLS_VERSIONS, TunnelConfig, isLoopbackHost } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';
import { VariableContext } from '../../src/core/config/variables';
import { prng } from '../support/tunnelKit';


const FIELDS = ['name', 'listen', 'unsafeListen', 'target', 'protocol', 'cert', 'key', 'pfx', 'passphrase', 'ca', 'serverName', 'verify', 'alpn', 'minTlsVersion', 'connectTimeoutMs', 'idleTimeoutMs', 'maxConnections', 'autoStart'];

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
  };

  const entry = (): unknown => {
    if (chance(0.03)) return junk(1);
    const e: Record<string, unknown> = {};
    for (const f of FIELDS) {
      const required = ['name', 'listen', 'target', 'cert', 'key'].includes(f);
      if (f === 'pfx' || f === 'passphrase' ? chance(0.08) : required ? chance(0.92) : chance(0.25)) {
        e[f] = chance(0.85) ? plausible[f]() : junk(1);
      }
    }
    if (chance(0.05)) e[pick(['targt', 'lisen', 'x', 'certs', 'verify.spkiSha256'])] = junk(1);
    return e;
  };
  const settings = (): unknown => (chance(0.02) ? junk(0) : Array.from({ length: int(0, 5) }, entry));
  const vars = (): VariableContext => ({
    workspaceFolder: chance(0.6) ? '/ws' : undefined,
    userHome: '/home/fuzz',
    env: { FUZZ_SET: chance(0.5) ? 'value' : '/abs' },
  });
  return { settings, vars };
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
  assert.ok(Number.isInteger(t.listen.port) && t.listen.port >= 0 && t.listen.port <= 65535);
  assert.ok(isLoopbackHost(t.listen.host) || t.unsafeListen, `listen ${t.listen.host} needs unsafeListen`);
  assert.ok(Number.isInteger(t.target.port) && t.target.port >= 1 && t.target.port <= 65535);
  assert.ok(t.target.host.length > 0);
  assert.ok((PROTOCOLS as readonly string[]).includes(t.protocol));
  assert.ok((TLS_VERSIONS as readonly string[]).includes(t.minTlsVersion));
  assert.ok((t.cert !== undefined && t.key !== undefined && t.pfx === undefined) || (t.pfx !== undefined && t.cert === undefined && t.key === undefined));
  for (const p of [t.cert, t.key, t.pfx, t.ca]) if (p !== undefined) assert.ok(path.isAbsolute(p), `${p} is absolute`);
  assert.ok(t.serverName.length > 0);
  assert.ok(t.verify.subjectAltNames.every((s) => /^(DNS|IP|URI|email):./.test(s)));
  assert.ok(t.verify.spkiSha256.every((s) => /^[A-Za-z0-9+/]{43}=$/.test(s)));
  assert.ok(t.alpn.every((s) => typeof s === 'string' && s.length > 0 && Buffer.byteLength(s) <= 255));
  assert.ok(t.connectTimeoutMs >= 100 && t.connectTimeoutMs <= 600_000);
  assert.ok(t.idleTimeoutMs >= 0 && t.maxConnections >= 0);
  assert.equal(typeof t.autoStart, 'boolean');
  assert.ok(t.passphrase === undefined || t.passphrase === 'value' || t.passphrase === '/abs');
}

describe('config parser fuzz', () => {
  test('4000 random settings: never throws, every error names tunnel and field, every tunnel is valid', { timeout: 30_000 }, () => {
    const SEED = 0x6d7473;
    const gen = generator(SEED);
    let tunnels = 0;
    let errors = 0;
    for (let i = 0; i < 4000; i++) {
      const raw = gen.settings();
      const vars = gen.vars();
      let result;
      try {
        result = parseTunnels(raw, vars);
      } catch (e) {
        assert.fail(`case ${i} (seed ${SEED}) threw ${String(e)} for ${JSON.stringify(raw)}`);
      }
      try {
        for (const e of result.errors) checkError(e);
        for (const t of result.tunnels) checkTunnel(t);
        assert.equal(new Set(result.tunnels.map((t) => t.name)).size, result.tunnels.length, 'names are unique');
        if (Array.isArray(raw)) assert.ok(result.tunnels.length <= raw.length);
        assert.deepEqual(parseTunnels(raw, vars), result, 'deterministic');
      } catch (e) {
        assert.fail(`case ${i} (seed ${SEED}) for ${JSON.stringify(raw)}: ${(e as Error).message}`);
      }
      tunnels += result.tunnels.length;
      errors += result.errors.length;
    }
    // The generator must exercise both paths, or the properties above say little.
    assert.ok(tunnels > 300, `${tunnels} valid tunnels parsed`);
    assert.ok(errors > 3000, `${errors} errors reported`);
  });
});
