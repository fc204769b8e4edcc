/**
 * The settings contract (DESIGN.md's table), rule by rule: defaults, what each field accepts, and
 * that every error names the tunnel and the field. A bad entry is left out; the good ones still
 * come back.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, TunnelConfig } from '../../src/core/config/model';
import { parseEndpoint, parseTunnels } from '../../src/core/config/parse';
import { VariableContext } from '../../src/core/config/variables';

const ABS = path.resolve('/certs');
const base = { name: 'db', listen: 15432, target: 'db.internal:5432', cert: `${ABS}/client.crt`, key: `${ABS}/client.key` };

/** Parses one entry (base + overrides, `undefined` removes a field); expects exactly one tunnel back. */
function ok(overrides: Record<string, unknown> = {}, vars: VariableContext = {}): TunnelConfig {
  const { tunnels, errors } = parseTunnels([entry(overrides)], vars);
  assert.deepEqual(errors.map(String), []);
  assert.equal(tunnels.length, 1);
  return tunnels[0];
}

function entry(overrides: Record<string, unknown>): Record<string, unknown> {
  const e: Record<string, unknown> = { ...base, ...overrides };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e;
}

/** Parses one entry expected to be refused; returns its errors after checking each names tunnel and field. */
function bad(overrides: Record<string, unknown>, vars: VariableContext = {}): ConfigError[] {
  const { tunnels, errors } = parseTunnels([entry(overrides)], vars);
  assert.equal(tunnels.length, 0, 'a bad entry is left out');
  assert.ok(errors.length > 0, 'it is reported');
  for (const e of errors) assertNamed(e);
  return errors;
}

function assertNamed(e: ConfigError): void {
  assert.ok(e.tunnel.length > 0, `names a tunnel: ${String(e)}`);
  assert.ok(e.field.length > 0, `names a field: ${String(e)}`);
  const text = String(e);
  assert.ok(text.startsWith(e.tunnel.startsWith('#') ? `tunnel ${e.tunnel}: ` : `tunnel "${e.tunnel}": `), text);
  assert.ok(text.includes(`${e.field}: `), text);
}

/** The single error for `field`, with its message matching `pattern`. */
function errorOn(errors: ConfigError[], field: string, pattern: RegExp): ConfigError {
  const hits = errors.filter((e) => e.field === field);
  assert.equal(hits.length, 1, `one error on ${field}: ${errors.map(String).join(' | ')}`);
  assert.match(hits[0].message, pattern);
  return hits[0];
}

describe('config parser: defaults and a full entry', () => {
  test('a minimal entry gets the documented defaults', () => {
    const t = ok();
    assert.deepEqual(t, {
      name: 'db',
      listen: { host: '127.0.0.1', port: 15432 },
      unsafeListen: false,
      allowOtherUsers: false,
      target: { host: 'db.internal', port: 5432 },
      targets: [{ host: 'db.internal', port: 5432, serverName: 'db.internal' }],
      targetPolicy: 'failover',
      protocol: 'tls',
      cert: `${ABS}/client.crt`, key: `${ABS}/client.key`, pfx: undefined, passphrase: undefined, ca: undefined,
      serverName: 'db.internal',
      verify: { subjectAltNames: [], spkiSha256: [] },
      alpn: [],
      minTlsVersion: 'TLSv1.2',
      connectTimeoutMs: 10_000,
      resumption: 'once',
      idleTimeoutMs: 0,
      closeTimeoutMs: 60_000,
      maxConnectionLifetimeMs: 0,
      maxConnections: 0,
      warmConnections: 0,
      warmMaxAgeMs: 10_000,
      autoStart: false,
      folder: undefined,
    });
  });

  test('every field set', () => {
    const pin = 'A'.repeat(43) + '=';
    const t = ok({
      listen: '127.0.0.1:6380', target: '[2001:db8::1]:6379', protocol: 'postgres-direct', ca: `${ABS}/ca.pem`,
      serverName: 'redis.internal', verify: { subjectAltNames: ['DNS:redis.internal', 'URI:spiffe://corp/redis', 'IP:10.0.0.1', 'email:ops@corp'], spkiSha256: [pin] },
      alpn: ['h2', 'postgresql'], minTlsVersion: 'TLSv1.3', connectTimeoutMs: 100, idleTimeoutMs: 86_400_000,
      maxConnections: 1_000_000, autoStart: true, resumption: 'reuse',
    }, { workspaceFolder: '/ws' });
    assert.equal(t.resumption, 'reuse');
    assert.deepEqual(t.listen, { host: '127.0.0.1', port: 6380 });
    assert.deepEqual(t.target, { host: '2001:db8::1', port: 6379 });
    assert.equal(t.protocol, 'postgres-direct');
    assert.equal(t.ca, `${ABS}/ca.pem`);
    assert.equal(t.serverName, 'redis.internal');
    assert.deepEqual(t.verify.subjectAltNames, ['DNS:redis.internal', 'URI:spiffe://corp/redis', 'IP:10.0.0.1', 'email:ops@corp']);
    assert.deepEqual(t.verify.spkiSha256, [pin]);
    assert.deepEqual(t.alpn, ['h2', 'postgresql']);
    assert.equal(t.minTlsVersion, 'TLSv1.3');
    assert.equal(t.connectTimeoutMs, 100);
    assert.equal(t.idleTimeoutMs, 86_400_000);
    assert.equal(t.maxConnections, 1_000_000);
    assert.equal(t.autoStart, true);
    assert.equal(t.folder, '/ws');
  });

  test('ALPN defaults by protocol: postgresql for postgres-direct, none otherwise; an explicit list wins', () => {
    assert.deepEqual(ok({ protocol: 'postgres-direct' }).alpn, ['postgresql']);
    assert.deepEqual(ok({ protocol: 'postgres' }).alpn, []);
    assert.deepEqual(ok({ protocol: 'tls' }).alpn, []);
    assert.deepEqual(ok({ protocol: 'postgres-direct', alpn: [] }).alpn, []);
    assert.deepEqual(ok({ alpn: ['h2'] }).alpn, ['h2']);
  });

  test('every protocol is accepted', () => {
    for (const p of ['tls', 'postgres', 'postgres-direct', 'mysql']) assert.equal(ok({ protocol: p }).protocol, p);
  });
});

describe('config parser: names', () => {
  test('name is required, a non-empty string without surrounding spaces; nameless entries are called #N', () => {
    errorOn(bad({ name: undefined }), 'name', /is required/);
    for (const name of ['', '  ', ' db', 'db ', 42, null, ['db']]) {
      const errors = bad({ name });
      const e = errorOn(errors, 'name', /non-empty string without surrounding spaces/);
      assert.equal(e.tunnel, '#1');
    }
    const { errors } = parseTunnels([entry({}), entry({ name: undefined, listen: 1 })]);
    assert.equal(errors[0].tunnel, '#2');
    assert.equal(String(errors[0]), 'tunnel #2: name: is required');
  });

  test('duplicate names: the later entry is refused, naming both entries; the first is kept', () => {
    const { tunnels, errors } = parseTunnels([entry({ listen: 1 }), entry({ name: 'other', listen: 2 }), entry({ listen: 3 })]);
    assert.deepEqual(tunnels.map((t) => [t.name, t.listen.port]), [['db', 1], ['other', 2]]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].tunnel, 'db');
    assert.equal(errors[0].field, 'name');
    assert.match(errors[0].message, /duplicate name: entries #1 and #3 are both called "db"/);
    assertNamed(errors[0]);
  });

  test('a duplicate of an entry that itself has errors is still a duplicate', () => {
    const { tunnels, errors } = parseTunnels([entry({ listen: 'nope' }), entry({ listen: 3 })]);
    assert.equal(tunnels.length, 0);
    assert.deepEqual(errors.map((e) => e.field).sort(), ['listen', 'name']);
  });

  test('good entries survive bad ones', () => {
    const { tunnels, errors } = parseTunnels([entry({ name: 'a' }), 'not an object', entry({ name: 'b', listen: 'x' }), entry({ name: 'c', listen: 2 })]);
    assert.deepEqual(tunnels.map((t) => t.name), ['a', 'c']);
    assert.equal(errors.length, 2);
    assert.equal(String(errors[0]), 'tunnel #2: each tunnel must be an object, not "not an object"');
    assert.equal(errors[1].tunnel, 'b');
  });

  test('the setting itself must be an array; absent means no tunnels', () => {
    assert.deepEqual(parseTunnels(undefined), { tunnels: [], errors: [] });
    assert.deepEqual(parseTunnels(null), { tunnels: [], errors: [] });
    assert.deepEqual(parseTunnels([]), { tunnels: [], errors: [] });
    const { errors } = parseTunnels({ name: 'db' });
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /mtlsTunnels\.tunnels must be an array of tunnels, not an object/);
  });

  test('resumption is one of three words; a near miss gets the word and a fix', () => {
    assert.equal(ok({ resumption: 'off' }).resumption, 'off');
    const near = errorOn(bad({ resumption: 'resuse' }), 'resumption', /^must be "once", "reuse" or "off", not "resuse"; did you mean "reuse"\?$/);
    assert.deepEqual(near.location.fix, { kind: 'replaceValue', value: 'reuse' });
    errorOn(bad({ resumption: true }), 'resumption', /^must be "once", "reuse" or "off", not boolean true$/);
  });

  test('unknown fields are refused with a suggestion when one is close', () => {
    const errors = bad({ targt: 'x:1', servername: 'db', zzzzzzzz: 1 });
    errorOn(errors, 'targt', /unknown field; did you mean "target"\?/);
    errorOn(errors, 'servername', /did you mean "serverName"\?/);
    const far = errorOn(errors, 'zzzzzzzz', /unknown field/);
    assert.doesNotMatch(far.message, /did you mean/);
  });
});

describe('config parser: listen and target', () => {
  test('listen: a port number, a numeric string, or host:port on loopback', () => {
    assert.deepEqual(ok({ listen: 0 }).listen, { host: '127.0.0.1', port: 0 });
    assert.deepEqual(ok({ listen: 65535 }).listen, { host: '127.0.0.1', port: 65535 });
    assert.deepEqual(ok({ listen: '15432' }).listen, { host: '127.0.0.1', port: 15432 });
    assert.deepEqual(ok({ listen: 'localhost:80' }).listen, { host: 'localhost', port: 80 });
    assert.deepEqual(ok({ listen: '127.0.0.2:80' }).listen, { host: '127.0.0.2', port: 80 });
    assert.deepEqual(ok({ listen: '[::1]:5432' }).listen, { host: '::1', port: 5432 });
  });

  test('listen: bad ports and shapes are refused', () => {
    errorOn(bad({ listen: undefined }), 'listen', /is required/);
    errorOn(bad({ listen: -1 }), 'listen', /port -1 is out of range/);
    errorOn(bad({ listen: 65536 }), 'listen', /port 65536 is out of range/);
    errorOn(bad({ listen: 1.5 }), 'listen', /out of range/);
    errorOn(bad({ listen: '70000' }), 'listen', /port 70000 is out of range/);
    errorOn(bad({ listen: '127.0.0.1:99999' }), 'listen', /out of range/);
    errorOn(bad({ listen: 'localhost' }), 'listen', /is not "host:port"/);
    errorOn(bad({ listen: true }), 'listen', /must be a port number or "host:port", not boolean true/);
    errorOn(bad({ listen: { port: 1 } }), 'listen', /not an object/);
  });

  test('listen: a non-loopback address is refused unless unsafeListen is true', () => {
    for (const listen of ['0.0.0.0:15432', '192.168.1.10:15432', '[::]:15432', 'db.internal:1']) {
      errorOn(bad({ listen }), 'listen', /is not a loopback address.*"unsafeListen": true/);
    }
    assert.deepEqual(ok({ listen: '0.0.0.0:15432', unsafeListen: true }).listen, { host: '0.0.0.0', port: 15432 });
    assert.equal(ok({ listen: '0.0.0.0:1', unsafeListen: true }).unsafeListen, true);
    const errors = bad({ listen: '0.0.0.0:1', unsafeListen: 'yes' });
    errorOn(errors, 'unsafeListen', /must be true or false, not "yes"/);
    errorOn(errors, 'listen', /not a loopback address/);
  });

  test('target: required host:port with a port from 1 to 65535; IPv6 in brackets', () => {
    assert.deepEqual(ok({ target: '10.0.0.5:443' }).target, { host: '10.0.0.5', port: 443 });
    assert.deepEqual(ok({ target: '[::1]:443' }).target, { host: '::1', port: 443 });
    assert.equal(ok({ target: '[::1]:443' }).serverName, '::1');
    errorOn(bad({ target: undefined }), 'target', /is required/);
    errorOn(bad({ target: 'db.internal' }), 'target', /is not "host:port"/);
    errorOn(bad({ target: 'db.internal:0' }), 'target', /port must be from 1 to 65535/);
    errorOn(bad({ target: 'db.internal:65536' }), 'target', /port 65536 is out of range/);
    errorOn(bad({ target: '2001:db8::1' }), 'target', /IPv6 address without a port; write "\[2001:db8::1\]:PORT"/);
    errorOn(bad({ target: '[10.0.0.1]:5432' }), 'target', /"10.0.0.1" is not an IPv6 address/);
    errorOn(bad({ target: '[db.internal]:5432' }), 'target', /is not "host:port"/);
    errorOn(bad({ target: 'bad_host-:5432' }), 'target', /is not a valid host name/);
    errorOn(bad({ target: 5432 }), 'target', /must be a non-empty string, not number 5432/);
    errorOn(bad({ target: '' }), 'target', /must be a non-empty string/);
  });

  test('parseEndpoint on its own', () => {
    assert.deepEqual(parseEndpoint('a.b-c.d:1'), { host: 'a.b-c.d', port: 1 });
    assert.deepEqual(parseEndpoint('[fe80::1]:65535'), { host: 'fe80::1', port: 65535 });
    assert.equal(typeof parseEndpoint('a:b'), 'string');
    assert.equal(typeof parseEndpoint('a:123456'), 'string');
    assert.equal(typeof parseEndpoint(':80'), 'string');
    assert.equal(typeof parseEndpoint('a b:80'), 'string');
  });
});

describe('config parser: protocol, identity, verification, TLS and numbers', () => {
  test('unknown protocol: refused, with the list and a suggestion', () => {
    const e = errorOn(bad({ protocol: 'postgress' }), 'protocol', /unknown protocol "postgress"; use one of tls, postgres, postgres-direct, mysql; did you mean "postgres"\?/);
    assert.equal(e.tunnel, 'db');
    errorOn(bad({ protocol: 'TLS' }), 'protocol', /did you mean "tls"\?/);
    const far = errorOn(bad({ protocol: 'smtp-starttls' }), 'protocol', /unknown protocol/);
    assert.doesNotMatch(far.message, /did you mean/);
    errorOn(bad({ protocol: 5 }), 'protocol', /unknown protocol number 5/);
  });

  test('client identity: cert + key, cert alone (combined PEM), or pfx, never both; never neither', () => {
    const p12 = ok({ cert: undefined, key: undefined, pfx: `${ABS}/client.p12` });
    assert.equal(p12.pfx, `${ABS}/client.p12`);
    assert.equal(p12.cert, undefined);
    errorOn(bad({ pfx: `${ABS}/client.p12` }), 'pfx', /use either pfx or cert \+ key, not both/);
    errorOn(bad({ key: undefined, pfx: `${ABS}/client.p12` }), 'pfx', /not both/);
    errorOn(bad({ cert: undefined, key: undefined }), 'cert', /a client identity is required/);
    errorOn(bad({ cert: undefined }), 'cert', /key is set but cert is missing/);
    const combined = ok({ key: undefined });
    assert.equal(combined.key, undefined, 'cert alone: a combined PEM, its key read at start');
    assert.ok(combined.cert);
    errorOn(bad({ cert: 7 }), 'cert', /must be a non-empty string, not number 7/);
    errorOn(bad({ ca: '' }), 'ca', /must be a non-empty string/);
  });

  test('relative paths resolve against the workspace folder, and are refused without one', () => {
    const t = ok({ cert: 'certs/client.crt', key: './certs/../certs/client.key', ca: 'ca.pem' }, { workspaceFolder: '/ws' });
    assert.equal(t.cert, path.resolve('/ws', 'certs/client.crt'));
    assert.equal(t.key, path.resolve('/ws', 'certs/client.key'));
    assert.equal(t.ca, path.resolve('/ws', 'ca.pem'));
    const errors = bad({ cert: 'certs/client.crt', ca: 'ca.pem' });
    errorOn(errors, 'cert', /relative path "certs\/client.crt" needs a workspace folder/);
    errorOn(errors, 'ca', /relative path "ca.pem"/);
    assert.equal(ok({ cert: '/a/b/../c.crt' }).cert, path.normalize('/a/c.crt'));
  });

  test('crl is a path like ca: variables, relative to the workspace folder, absent by default', () => {
    assert.equal(ok({ crl: '${workspaceFolder}/certs/ca.crl.pem' }, { workspaceFolder: '/ws' }).crl, path.resolve('/ws', 'certs/ca.crl.pem'));
    assert.equal(ok({ crl: 'ca.crl.pem' }, { workspaceFolder: '/ws' }).crl, path.resolve('/ws', 'ca.crl.pem'));
    assert.equal('crl' in ok(), false);
    errorOn(bad({ crl: 'ca.crl.pem' }), 'crl', /relative path "ca.crl.pem" needs a workspace folder/);
    errorOn(bad({ crl: 42 }), 'crl', /string/);
  });

  test('variables: ${workspaceFolder}, ${userHome}, ${env:NAME} and ~ in paths', () => {
    const vars: VariableContext = { workspaceFolder: '/ws', userHome: '/home/alice', env: { CERTS: '/vault/certs' } };
    const t = ok({ cert: '${workspaceFolder}/certs/client.crt', key: '${userHome}/.keys/client.key', ca: '${env:CERTS}/ca.pem' }, vars);
    assert.equal(t.cert, '/ws/certs/client.crt');
    assert.equal(t.key, '/home/alice/.keys/client.key');
    assert.equal(t.ca, '/vault/certs/ca.pem');
    assert.equal(ok({ cert: '~/certs/client.crt', key: '~' }, vars).cert, '/home/alice/certs/client.crt');
    assert.equal(ok({ serverName: '${env:CERTS_HOST}' }, { env: { CERTS_HOST: 'db.corp' } }).serverName, 'db.corp');
    assert.equal(ok({ target: '${env:DB_HOST}:5432' }, { env: { DB_HOST: 'db.corp' } }).target.host, 'db.corp');
  });

  test('variables: unset env vars, unknown variables and a missing workspace folder are errors, never empty strings', () => {
    errorOn(bad({ cert: '${env:NOPE_NOT_SET}/client.crt' }, { env: {} }), 'cert', /environment variable NOPE_NOT_SET is not set \(used as \$\{env:NOPE_NOT_SET\}\)/);
    errorOn(bad({ cert: '${workspaceFolder}/client.crt' }), 'cert', /\$\{workspaceFolder\} is used but there is no workspace folder/);
    errorOn(bad({ ca: '${home}/ca.pem' }), 'ca', /unknown variable \$\{home\}/);
    errorOn(bad({ target: '${env:DB_HOST}:5432' }, { env: {} }), 'target', /DB_HOST is not set/);
  });

  test('passphrase: only an environment reference; a literal one is refused', () => {
    const t = ok({ cert: undefined, key: undefined, pfx: `${ABS}/c.p12`, passphrase: '${env:P12_PASS}' }, { env: { P12_PASS: 'hunter2' } });
    assert.equal(t.passphrase, 'hunter2');
    for (const passphrase of ['hunter2', 'x${env:P12_PASS}', '${env:P12_PASS}x', '${userHome}', 42]) {
      const e = errorOn(bad({ passphrase }, { env: { P12_PASS: 'hunter2' } }), 'passphrase', /must be an environment reference like "\$\{env:CLIENT_P12_PASSWORD\}"; a passphrase is never written in settings/);
      assert.ok(!String(e).includes('hunter2'), 'the literal is not repeated back');
    }
    errorOn(bad({ passphrase: '${env:UNSET_PASS}' }, { env: {} }), 'passphrase', /UNSET_PASS is not set/);
  });

  test('serverName: defaults to the target host; must look like a host name', () => {
    assert.equal(ok({ target: '10.1.2.3:5432' }).serverName, '10.1.2.3');
    assert.equal(ok({ serverName: 'db.prod.corp' }).serverName, 'db.prod.corp');
    errorOn(bad({ serverName: 'db prod' }), 'serverName', /"db prod" is not a host name/);
    errorOn(bad({ serverName: '' }), 'serverName', /non-empty string/);
  });

  test('verify.subjectAltNames: each needs a DNS:, IP:, URI: or email: prefix and a value', () => {
    for (const san of ['db.internal', 'dns:db.internal', 'DNS:', 'URL:https://x', 'IP Address:10.0.0.1']) {
      const e = errorOn(bad({ verify: { subjectAltNames: ['DNS:ok', san] } }), 'verify.subjectAltNames[1]', /must start with DNS:, IP:, URI:, email:/);
      assert.ok(e.message.includes(`"${san}"`));
    }
    errorOn(bad({ verify: { subjectAltNames: 'DNS:db' } }), 'verify.subjectAltNames', /must be an array of strings, not "DNS:db"/);
    errorOn(bad({ verify: { subjectAltNames: [1] } }), 'verify.subjectAltNames[0]', /non-empty string, not number 1/);
  });

  test('verify.spkiSha256: 44-character base64 pins', () => {
    const good = 'q4CU6gxXsCGPAjOJ3pPDSVg7A7Eqk5C8ZkH/9BRaI+o=';
    assert.deepEqual(ok({ verify: { spkiSha256: [good] } }).verify.spkiSha256, [good]);
    for (const pin of ['q4CU6gxXsCGPAjOJ3pPDSVg7A7Eqk5C8ZkH/9BRaI+o', 'sha256/q4CU6gxXsCGPAjOJ3pPDSVg7A7Eqk5C8ZkH/9BRaI+o=', 'ab'.repeat(32), 'q4CU6gxXsCGPAjOJ3pPDSVg7A7Eqk5C8ZkH-9BRaI+o=']) {
      errorOn(bad({ verify: { spkiSha256: [pin] } }), 'verify.spkiSha256[0]', /is not a base64 SHA-256 pin \(44 characters ending in "="\)/);
    }
  });

  test('verify: must be an object of known fields', () => {
    errorOn(bad({ verify: ['DNS:x'] }), 'verify', /must be an object with subjectAltNames and\/or spkiSha256, not an array/);
    errorOn(bad({ verify: null }), 'verify', /not null/);
    errorOn(bad({ verify: { subjectAltName: ['DNS:x'] } }), 'verify.subjectAltName', /unknown field; did you mean "subjectAltNames"\?/);
  });

  test('alpn: an array of non-empty strings up to 255 bytes', () => {
    errorOn(bad({ alpn: 'h2' }), 'alpn', /must be an array of strings/);
    errorOn(bad({ alpn: ['h2', ''] }), 'alpn[1]', /non-empty string/);
    errorOn(bad({ alpn: ['x'.repeat(256)] }), 'alpn[0]', /longer than 255 bytes/);
    assert.deepEqual(ok({ alpn: ['x'.repeat(255)] }).alpn, ['x'.repeat(255)]);
  });

  test('minTlsVersion: TLSv1.2 or TLSv1.3 only', () => {
    for (const v of ['TLSv1.1', 'TLSv1', 'tlsv1.3', 1.3]) errorOn(bad({ minTlsVersion: v }), 'minTlsVersion', /must be TLSv1.2 or TLSv1.3, not .* \(older versions are not allowed\)/);
  });

  test('timeouts and limits: whole numbers within their ranges', () => {
    const cases: [string, unknown, RegExp][] = [
      ['connectTimeoutMs', 99, /from 100 to 600000, not number 99/],
      ['connectTimeoutMs', 600_001, /from 100 to 600000/],
      ['connectTimeoutMs', 1000.5, /whole number/],
      ['connectTimeoutMs', '1000', /not "1000"/],
      ['idleTimeoutMs', -1, /from 0 to 86400000/],
      ['idleTimeoutMs', 86_400_001, /from 0 to 86400000/],
      ['closeTimeoutMs', -1, /from 0 to 86400000/],
      ['closeTimeoutMs', 1.5, /whole number/],
      ['maxConnectionLifetimeMs', 604_800_001, /from 0 to 604800000/],
      ['maxConnections', -5, /from 0 to 1000000/],
      ['maxConnections', null, /not null/],
    ];
    for (const [field, value, pattern] of cases) errorOn(bad({ [field]: value }), field, pattern);
    assert.equal(ok({ idleTimeoutMs: 0, maxConnections: 0 }).maxConnections, 0);
  });

  test('warmConnections and warmMaxAgeMs: off by default, bounded, and refused for MySQL', () => {
    const t = ok({ warmConnections: 2, warmMaxAgeMs: 5000, protocol: 'postgres' });
    assert.equal(t.warmConnections, 2);
    assert.equal(t.warmMaxAgeMs, 5000);
    const cases: [string, unknown, RegExp][] = [
      ['warmConnections', 17, /from 0 to 16, not number 17/],
      ['warmConnections', 1.5, /whole number/],
      ['warmConnections', true, /not boolean true/],
      ['warmMaxAgeMs', 999, /from 1000 to 60000, not number 999/],
      ['warmMaxAgeMs', 60_001, /from 1000 to 60000/],
    ];
    for (const [field, value, pattern] of cases) errorOn(bad({ [field]: value }), field, pattern);
    const mysql = errorOn(bad({ protocol: 'mysql', warmConnections: 1 }), 'warmConnections', /cannot be used with protocol "mysql": the MySQL server speaks first .*connect_timeout/);
    assert.match(String(mysql), /^tunnel "db": warmConnections: /);
    // Zero is off, which MySQL tunnels may say.
    assert.equal(ok({ protocol: 'mysql', warmConnections: 0 }).warmConnections, 0);
    // The editor's schema says the same bounds, and the same refusal for MySQL.
    const items = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).contributes.configuration.properties['mtlsTunnels.tunnels'].items;
    assert.deepEqual([items.properties.warmConnections.minimum, items.properties.warmConnections.maximum, items.properties.warmConnections.default], [0, 16, 0]);
    assert.deepEqual([items.properties.warmMaxAgeMs.minimum, items.properties.warmMaxAgeMs.maximum, items.properties.warmMaxAgeMs.default], [1000, 60_000, 10_000]);
    const mysqlRule = items.allOf.find((r: { if?: { properties?: { protocol?: { const?: string } } } }) => r.if?.properties?.protocol?.const === 'mysql');
    assert.equal(mysqlRule.then.properties.warmConnections.const, 0);
  });

  test('autoStart: a boolean', () => {
    assert.equal(ok({ autoStart: false }).autoStart, false);
    errorOn(bad({ autoStart: 'true' }), 'autoStart', /must be true or false, not "true"/);
    errorOn(bad({ autoStart: 1 }), 'autoStart', /must be true or false, not number 1/);
  });

  test('an entry with many problems reports each one, each naming tunnel and field', () => {
    const errors = bad({ listen: '0.0.0.0:99', target: 'x', protocol: 'ftp', connectTimeoutMs: 1, autoStart: 'no', verify: { spkiSha256: ['nope'] }, extra: 1 });
    assert.deepEqual(errors.map((e) => e.field).sort(), ['autoStart', 'connectTimeoutMs', 'extra', 'listen', 'protocol', 'target', 'verify.spkiSha256[0]']);
    assert.ok(errors.every((e) => e.tunnel === 'db'));
  });
});
