/**
 * `mtls-tunnels export` for a tunnel with a `proxy`: ghostunnel's --proxy, stunnel's
 * `protocol = connect`, Envoy's http_11_proxy transport socket, what each cannot carry said in
 * the notes, and the proxy password in none of them. (The stunnel file is run for real through
 * tinyproxy in test/servers/proxy.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { TunnelConfig } from '../../src/core/config/model';
import { EXPORT_FORMATS, ExportError, exportTunnel } from '../../src/core/export';
import { exportTestTunnel, hasLine, lines } from '../support/exportKit';
import { envoyBootstrap } from '../../src/core/export/envoy';

const SECRET = 'proxy-password-never-exported';

function tunnel(overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): TunnelConfig {
  return exportTestTunnel(overrides, { PROXY_PASSWORD: SECRET, PROXY_USER: 'svc', ...env });
}

describe('every format', () => {
  for (const format of EXPORT_FORMATS) {
    test(`${format}: the proxy password is in neither the file nor the notes`, () => {
      for (const proxy of ['http://alice:${env:PROXY_PASSWORD}@10.9.8.7:3128', 'env']) {
        const r = exportTunnel(tunnel({ proxy }, { HTTPS_PROXY: `http://alice:${SECRET}@10.9.8.7:3128` }), format);
        for (const text of [r.text, r.notes.join('\n')]) {
          assert.ok(!text.includes(SECRET) && !text.includes(Buffer.from(`alice:${SECRET}`).toString('base64')), `leaked in ${format}:\n${text}`);
        }
      }
    });
  }
});

describe('ghostunnel', () => {
  test('--proxy with the proxy URL', () => {
    const r = exportTunnel(tunnel({ proxy: 'http://proxy.corp:3128' }), 'ghostunnel');
    hasLine(r.text, '  --proxy http://proxy.corp:3128 \\');
    assert.ok(spawnSync('sh', ['-n'], { input: r.text }).status === 0, 'not valid sh');
  });

  test('credentials come from the same variables when the script runs', () => {
    const r = exportTunnel(tunnel({ proxy: 'http://${env:PROXY_USER}:${env:PROXY_PASSWORD}@proxy.corp:3128' }), 'ghostunnel');
    hasLine(r.text, '  --proxy "http://${PROXY_USER}:${PROXY_PASSWORD}@proxy.corp:3128" \\');
    hasLine(r.text, ': "${PROXY_USER:?set PROXY_USER to the proxy user name}"');
    hasLine(r.text, ': "${PROXY_PASSWORD:?set PROXY_PASSWORD to the proxy password}"');
    assert.ok(r.notes.some((n) => n.includes('$PROXY_USER and $PROXY_PASSWORD')));
    assert.ok(spawnSync('sh', ['-n'], { input: r.text }).status === 0, 'not valid sh');
    // The script really expands them: run the guards and print the URL instead of exec'ing.
    const url = spawnSync('sh', ['-c', `${lines(r.text).filter((l) => l.startsWith(': "')).join('\n')}\nprintf %s "http://\${PROXY_USER}:\${PROXY_PASSWORD}@proxy.corp:3128"`], { env: { PROXY_USER: 'svc', PROXY_PASSWORD: 'pw' } });
    assert.equal(url.stdout.toString(), 'http://svc:pw@proxy.corp:3128');
  });

  test('a literal user name is quoted for the shell; "${env:CORP_PROXY}" is passed whole', () => {
    const r = exportTunnel(tunnel({ proxy: 'http://a$b"c:${env:PROXY_PASSWORD}@proxy.corp:3128' }), 'ghostunnel');
    hasLine(r.text, '  --proxy "http://a\\$b\\"c:${PROXY_PASSWORD}@proxy.corp:3128" \\');
    assert.ok(spawnSync('sh', ['-n'], { input: r.text }).status === 0, 'not valid sh');
    const whole = exportTunnel(tunnel({ proxy: '${env:CORP_PROXY}' }, { CORP_PROXY: `http://u:${SECRET}@proxy.corp:3128` }), 'ghostunnel');
    hasLine(whole.text, '  --proxy "$CORP_PROXY" \\');
    hasLine(whole.text, ': "${CORP_PROXY:?set CORP_PROXY to the proxy URL}"');
  });

  test('a variable name no shell can read is refused', () => {
    assert.throws(() => exportTunnel(tunnel({ proxy: 'http://u:${env:PROXY-PASS}@proxy.corp:3128' }, { 'PROXY-PASS': 'x' }), 'ghostunnel'), ExportError);
  });

  test('"env": the proxy it resolved to, and a note that NO_PROXY is not carried', () => {
    const r = exportTunnel(tunnel({ proxy: 'env' }, { HTTPS_PROXY: 'http://proxy.corp:3128' }), 'ghostunnel');
    hasLine(r.text, '  --proxy http://proxy.corp:3128 \\');
    assert.ok(r.notes.some((n) => /read from HTTPS_PROXY when this file was exported/.test(n) && /NO_PROXY/.test(n)));
    const direct = exportTunnel(tunnel({ proxy: 'env' }, { HTTPS_PROXY: 'http://proxy.corp:3128', NO_PROXY: '.internal' }), 'ghostunnel');
    assert.ok(!direct.text.includes('--proxy'));
    assert.ok(direct.notes.some((n) => n.includes('proxy "env" meant a direct connection when this file was exported (NO_PROXY entry ".internal" matches db.internal)')));
  });
});

describe('stunnel', () => {
  test('protocol = connect: connect names the proxy, protocolHost the target; SNI and checks stay the target\'s', () => {
    const r = exportTunnel(tunnel({ proxy: 'http://10.9.8.7:3128' }), 'stunnel');
    for (const l of ['connect = 10.9.8.7:3128', 'protocol = connect', 'protocolHost = db.internal:5432', 'checkHost = db.internal', 'sni = db.internal']) hasLine(r.text, l);
    assert.ok(!lines(r.text).includes('connect = db.internal:5432'));
  });

  test('credentials: commented out with where they come from, and a note', () => {
    const r = exportTunnel(tunnel({ proxy: 'http://alice:${env:PROXY_PASSWORD}@10.9.8.7:3128' }), 'stunnel');
    hasLine(r.text, '; protocolUsername = alice');
    hasLine(r.text, '; protocolPassword = (the value of $PROXY_PASSWORD)');
    assert.ok(!lines(r.text).some((l) => /^protocol(Username|Password|Authentication) =/.test(l)), 'a live credentials line');
    assert.ok(r.notes.some((n) => /stunnel cannot read them from the environment/.test(n)));
  });

  test('postgres through a proxy: one protocol per service, so the service is commented out', () => {
    const r = exportTunnel(tunnel({ protocol: 'postgres', proxy: 'http://10.9.8.7:3128' }), 'stunnel');
    assert.ok(!lines(r.text).some((l) => /^\[/.test(l)), 'a live section');
    assert.ok(r.notes.some((n) => /one protocol/.test(n)));
  });
});

describe('envoy', () => {
  test('http_11_proxy wraps the TLS socket; the endpoint names the proxy in its metadata', () => {
    const config = tunnel({ proxy: 'http://10.9.8.7:3128' });
    const { bootstrap, notes, carried } = envoyBootstrap(config);
    assert.ok(carried);
    const cluster = (bootstrap as any).static_resources.clusters[0];
    assert.equal(cluster.transport_socket.name, 'envoy.transport_sockets.http_11_proxy');
    assert.equal(cluster.transport_socket.typed_config['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.http_11_proxy.v3.Http11ProxyUpstreamTransport');
    const inner = cluster.transport_socket.typed_config.transport_socket;
    assert.equal(inner.name, 'envoy.transport_sockets.tls');
    assert.equal(inner.typed_config.sni, 'db.internal', 'SNI stays the target\'s');
    const endpoint = cluster.load_assignment.endpoints[0].lb_endpoints[0];
    assert.deepEqual(endpoint.endpoint.address.socket_address, { address: 'db.internal', port_value: 5432 });
    assert.deepEqual(endpoint.metadata.typed_filter_metadata['envoy.http11_proxy_transport_socket.proxy_address'], {
      '@type': 'type.googleapis.com/envoy.config.core.v3.Address',
      socket_address: { address: '10.9.8.7', port_value: 3128 },
    });
    assert.ok(notes.some((n) => /resolves the target's name itself/.test(n)));
    const text = exportTunnel(config, 'envoy').text;
    assert.match(text, /\n +name: "?envoy\.transport_sockets\.http_11_proxy"?\n/);
    assert.match(text, /\n +"?envoy\.http11_proxy_transport_socket\.proxy_address"?:\n/);
  });

  test('what Envoy cannot do: credentials, a proxy host name, postgres', () => {
    const r = envoyBootstrap(tunnel({ proxy: 'http://alice:${env:PROXY_PASSWORD}@proxy.corp:3128' }));
    assert.ok(r.notes.some((n) => /sends no Proxy-Authorization/.test(n)));
    assert.ok(r.notes.some((n) => /proxy host proxy\.corp: Envoy takes the proxy as an IP address/.test(n)));
    const pg = envoyBootstrap(tunnel({ protocol: 'postgres', proxy: 'http://10.9.8.7:3128' }));
    assert.equal(pg.carried, false);
  });
});
