/**
 * Exports of what came with failover and lifetimes: several targets (stunnel's connect lines
 * with failover prio/rr, Envoy's priorities or one round-robin locality with outlier detection,
 * ghostunnel's one target said out loud), `crl`, `closeTimeoutMs`, `maxConnectionLifetimeMs`,
 * and each format saying what it cannot carry. (Real stunnel runs the two-target file in
 * export-stunnel.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TunnelConfig } from '../../src/core/config/model';
import { exportTunnel } from '../../src/core/export';
import { envoyBootstrap } from '../../src/core/export/envoy';
import { exportTestTunnel, hasLine, lines } from '../support/exportKit';

const tunnel = (overrides: Record<string, unknown> = {}): TunnelConfig => exportTestTunnel(overrides, {});
const pair = { target: ['db-a.internal:5432', 'db-b.internal:5432'] };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const clusterOf = (c: TunnelConfig): any => (envoyBootstrap(c).bootstrap as any).static_resources.clusters[0];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tcpProxyOf = (c: TunnelConfig): any => (envoyBootstrap(c).bootstrap as any).static_resources.listeners[0].filter_chains[0].filters[0].typed_config;

describe('export: several targets', () => {
  test('stunnel: one connect line per target, failover = prio or rr; the header lists them', () => {
    const r = exportTunnel(tunnel(pair), 'stunnel');
    const connects = lines(r.text).filter((l) => l.startsWith('connect = '));
    assert.deepEqual(connects, ['connect = db-a.internal:5432', 'connect = db-b.internal:5432']);
    hasLine(r.text, 'failover = prio');
    assert.match(r.text, /-> db-a\.internal:5432, db-b\.internal:5432 \(failover\)/);
    assert.ok(r.notes.some((n) => /does not skip one that just failed/.test(n)));
    hasLine(exportTunnel(tunnel({ ...pair, targetPolicy: 'round-robin' }), 'stunnel').text, 'failover = rr');
  });

  test('stunnel: targets with their own names get a checkHost each, one SNI, and a note saying so', () => {
    const r = exportTunnel(tunnel({ ...pair, serverName: undefined }), 'stunnel');
    hasLine(r.text, 'checkHost = db-a.internal');
    hasLine(r.text, 'checkHost = db-b.internal');
    assert.deepEqual(lines(r.text).filter((l) => l.startsWith('sni = ')), ['sni = db-a.internal']);
    assert.ok(r.notes.some((n) => /any target may present any of db-a\.internal, db-b\.internal/.test(n)), r.notes.join('\n'));
    // One shared serverName: one checkHost, no note.
    const shared = exportTunnel(tunnel(pair), 'stunnel');
    assert.deepEqual(lines(shared.text).filter((l) => l.startsWith('checkHost')), ['checkHost = db.internal']);
  });

  test('ghostunnel: one --target, the first, and the comment names the ones left out', () => {
    const r = exportTunnel(tunnel({ target: ['db-a.internal:5432', 'db-b.internal:5432', 'db-c.internal:5432'] }), 'ghostunnel');
    assert.match(r.text, /--target db-a\.internal:5432/);
    assert.ok(!/db-b\.internal:5432 \\/.test(r.text));
    assert.ok(r.notes.some((n) => /only the first \(db-a\.internal:5432\) is used; db-b\.internal:5432, db-c\.internal:5432 are left out/.test(n)), r.notes.join('\n'));
    assert.match(r.text.replace(/\n#\s+/g, ' '), /only the first \(db-a\.internal:5432\) is used/, 'said in the file');
  });

  test('envoy failover: one priority per target in order, ejection after a failed connect, a retry on the next', () => {
    const c = tunnel(pair);
    const cluster = clusterOf(c);
    assert.equal(cluster.type, 'STRICT_DNS');
    assert.equal(cluster.lb_policy, 'ROUND_ROBIN');
    assert.deepEqual(cluster.load_assignment.endpoints.map((e: any) => [e.priority, e.lb_endpoints.map((l: any) => l.endpoint.address.socket_address.address)]), [[undefined, ['db-a.internal']], [1, ['db-b.internal']]]);
    assert.deepEqual(cluster.outlier_detection, {
      split_external_local_origin_errors: true, consecutive_local_origin_failure: 1, enforcing_consecutive_local_origin_failure: 100,
      base_ejection_time: '5s', max_ejection_time: '60s', max_ejection_percent: 100,
    });
    assert.equal(tcpProxyOf(c).max_connect_attempts, 2);
  });

  test('envoy round-robin: one locality with both endpoints; IP targets make a STATIC cluster', () => {
    const c = tunnel({ target: ['10.0.0.1:5432', '10.0.0.2:5432'], targetPolicy: 'round-robin' });
    const cluster = clusterOf(c);
    assert.equal(cluster.type, 'STATIC');
    assert.equal(cluster.load_assignment.endpoints.length, 1);
    assert.deepEqual(cluster.load_assignment.endpoints[0].lb_endpoints.map((l: any) => l.endpoint.address.socket_address.address), ['10.0.0.1', '10.0.0.2']);
    // One target: none of it.
    const one = clusterOf(tunnel());
    assert.equal(one.outlier_detection, undefined);
    assert.equal(one.lb_policy, undefined);
    assert.equal(tcpProxyOf(tunnel()).max_connect_attempts, undefined);
  });

  test('envoy: per-target names are all matched, with one SNI, and said', () => {
    const { bootstrap, notes } = envoyBootstrap(tunnel({ ...pair, serverName: undefined }));
    const tls = (bootstrap as any).static_resources.clusters[0].transport_socket.typed_config;
    assert.equal(tls.sni, 'db-a.internal');
    assert.deepEqual(tls.common_tls_context.validation_context.match_typed_subject_alt_names.map((m: any) => m.matcher.exact), ['db-a.internal', 'db-b.internal']);
    assert.ok(notes.some((n) => /accepts any of db-a\.internal, db-b\.internal from every target/.test(n)));
  });
});

describe('export: crl, closeTimeoutMs, maxConnectionLifetimeMs', () => {
  const lifetimes = { crl: '/pki/ca.crl.pem', closeTimeoutMs: 15_000, maxConnectionLifetimeMs: 3_600_000 };

  test('stunnel: CRLfile and TIMEOUTclose; no lifetime, said', () => {
    const r = exportTunnel(tunnel(lifetimes), 'stunnel');
    hasLine(r.text, 'CRLfile = /pki/ca.crl.pem');
    hasLine(r.text, 'TIMEOUTclose = 15');
    assert.ok(r.notes.some((n) => /maxConnectionLifetimeMs: stunnel cannot/.test(n)));
    assert.ok(r.notes.some((n) => /crl: stunnel reads the CRL file when it starts/.test(n)));
    const unbounded = exportTunnel(tunnel({ closeTimeoutMs: 0 }), 'stunnel');
    assert.ok(!lines(unbounded.text).some((l) => l.startsWith('TIMEOUTclose')), 'TIMEOUTclose = 0 would mean something else');
    assert.ok(unbounded.notes.some((n) => /closeTimeoutMs 0/.test(n)));
  });

  test('ghostunnel: --close-timeout and --max-conn-lifetime; no client CRL, said', () => {
    const r = exportTunnel(tunnel(lifetimes), 'ghostunnel');
    assert.match(r.text, /--close-timeout 15s \\/);
    assert.match(r.text, /--max-conn-lifetime 3600s/);
    assert.ok(r.notes.some((n) => /crl: ghostunnel does not check/.test(n)));
    assert.match(exportTunnel(tunnel(), 'ghostunnel').text, /--close-timeout 60s/, 'the tunnel\'s default, not ghostunnel\'s 10s');
  });

  test('envoy: crl in the validation context, max_downstream_connection_duration; no close timeout, said', () => {
    const c = tunnel(lifetimes);
    const { notes } = envoyBootstrap(c);
    assert.deepEqual(clusterOf(c).transport_socket.typed_config.common_tls_context.validation_context.crl, { filename: '/pki/ca.crl.pem' });
    assert.equal(tcpProxyOf(c).max_downstream_connection_duration, '3600s');
    assert.ok(notes.some((n) => /closeTimeoutMs: Envoy's tcp_proxy has no bound/.test(n)));
    assert.equal(tcpProxyOf(tunnel()).max_downstream_connection_duration, undefined);
  });
});

describe('export: resumption', () => {
  test('off is carried by stunnel and Envoy; reuse has no equivalent anywhere and each says so; once says nothing', () => {
    const off = tunnel({ resumption: 'off' });
    hasLine(exportTunnel(off, 'stunnel').text, 'sessionResume = no');
    assert.equal(clusterOf(off).transport_socket.typed_config.max_session_keys, 0);
    assert.ok(exportTunnel(off, 'ghostunnel').notes.some((n) => /resumption off: ghostunnel has no setting/.test(n)));
    const reuse = tunnel({ resumption: 'reuse' });
    for (const format of ['stunnel', 'ghostunnel', 'envoy'] as const) {
      assert.ok(exportTunnel(reuse, format).notes.some((n) => /^resumption reuse: /.test(n)), format);
      assert.ok(!exportTunnel(tunnel(), format).notes.some((n) => /resumption/.test(n)), `${format} says nothing for once`);
    }
    assert.doesNotMatch(exportTunnel(reuse, 'stunnel').text, /sessionResume/);
    assert.equal(clusterOf(tunnel()).transport_socket.typed_config.max_session_keys, undefined);
  });
});
