/**
 * Reaching the target, for real: DNS, refused and silent ports, plaintext servers and a
 * PostgreSQL without TLS, each diagnosed through the handshake doctor.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTunnel } from '../../src/core/doctor';
import { withPki } from '../support/pkiFixture';
import { unusedPort } from '../support/ports';
import { startRawServer } from '../support/rawServers';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();

describe('diagnosing the way to the target', () => {
  it('DNS_FAILED names the host that does not resolve', async () => {
    const config = tunnelConfig(pki(), 443, { name: 'staging-api', target: 'does-not-exist.invalid:443' });
    const report = await checkTunnel(config);
    assert.equal(report.verdict, 'failed');
    assert.equal(report.diagnoses.length, 1);
    const [d] = report.diagnoses;
    assert.equal(d.code, 'DNS_FAILED');
    assert.match(d.summary, /^Tunnel "staging-api": the target host does-not-exist\.invalid cannot be resolved/);
    assert.match(d.fix, /"target"/);
    assert.equal(report.timings, undefined, 'nothing is timed when the name does not resolve');
  });

  it('CONNECTION_REFUSED names the address nothing listens on', async () => {
    const port = await unusedPort();
    const report = await checkTunnel(tunnelConfig(pki(), port, { name: 'db' }));
    assert.equal(report.verdict, 'failed');
    const [d] = report.diagnoses;
    assert.equal(d.code, 'CONNECTION_REFUSED');
    assert.equal(d.summary, `Tunnel "db": nothing is listening at 127.0.0.1:${port} (connection refused).`);
    assert.equal(report.timings?.tcpMs, undefined, 'TCP never completed');
    assert.ok(report.timings!.dnsMs >= 0);
  });

  it('CONNECT_TIMEOUT when the server accepts TCP and never answers the ClientHello', async () => {
    const server = await startRawServer(() => undefined);
    try {
      // The summary names the 400 ms: the check's own deadline ended it, not the server.
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'slow', connectTimeoutMs: 400 }));
      const [d] = report.diagnoses;
      assert.equal(d.code, 'CONNECT_TIMEOUT');
      assert.equal(d.summary, `Tunnel "slow": 127.0.0.1:${server.port} accepted the connection but did not finish the TLS handshake within 400 ms.`);
      assert.match(d.fix, /may not speak TLS/);
    } finally {
      await server.close();
    }
  });

  it('TARGET_SPEAKS_PLAINTEXT quotes what an HTTP server said', async () => {
    const server = await startRawServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    });
    try {
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'web' }));
      assert.equal(report.verdict, 'failed');
      const [d] = report.diagnoses;
      assert.equal(d.code, 'TARGET_SPEAKS_PLAINTEXT');
      assert.equal(d.summary, `Tunnel "web": 127.0.0.1:${server.port} answered in plaintext, not TLS: it said "HTTP/1.1 400 Bad Request".`);
      assert.match(d.fix, /TLS port/);
    } finally {
      await server.close();
    }
  });

  it('TARGET_SPEAKS_PLAINTEXT quotes a Redis-like -ERR', async () => {
    const server = await startRawServer((socket) => {
      socket.once('data', () => socket.write("-ERR unknown command '\\x16\\x03\\x01', with args beginning with:\r\n"));
    });
    try {
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'cache' }));
      const [d] = report.diagnoses;
      assert.equal(d.code, 'TARGET_SPEAKS_PLAINTEXT');
      assert.match(d.summary, /^Tunnel "cache": 127\.0\.0\.1:\d+ answered in plaintext, not TLS: it said "-ERR unknown command/);
    } finally {
      await server.close();
    }
  });

  it('TARGET_SPEAKS_PLAINTEXT for a server that speaks first (a banner)', async () => {
    const server = await startRawServer((socket) => socket.write('220 mail.example ESMTP ready\r\n'));
    try {
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'smtp' }));
      const [d] = report.diagnoses;
      assert.equal(d.code, 'TARGET_SPEAKS_PLAINTEXT');
      assert.match(d.summary, /it said "220 mail\.example ESMTP ready"\.$/);
    } finally {
      await server.close();
    }
  });

  it('POSTGRES_SSL_REFUSED when PostgreSQL answers N to the SSLRequest', async () => {
    const received: Buffer[] = [];
    const server = await startRawServer((socket) => {
      socket.on('data', (chunk) => {
        received.push(chunk);
        if (Buffer.concat(received).length >= 8) socket.write('N');
      });
    });
    try {
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'pg', protocol: 'postgres' }));
      assert.equal(report.verdict, 'failed');
      const [d] = report.diagnoses;
      assert.equal(d.code, 'POSTGRES_SSL_REFUSED');
      assert.match(d.summary, /^Tunnel "pg": the PostgreSQL server refused TLS \(it answered N to the SSLRequest\)/);
      assert.match(d.fix, /ssl in postgresql\.conf/);
      assert.deepEqual(Buffer.concat(received), Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), 'only the SSLRequest was sent');
    } finally {
      await server.close();
    }
  });

  it('a plain HTTP server behind protocol "postgres" is named as such (it answered the SSLRequest with "H", and HEAD / with a status line)', async () => {
    const server = await startRawServer((socket) => socket.once('data', () => socket.write('HTTP/1.1 400 Bad Request\r\n\r\n')));
    try {
      const report = await checkTunnel(tunnelConfig(pki(), server.port, { name: 'pg', protocol: 'postgres' }));
      const [d] = report.diagnoses;
      assert.equal(d.code, 'PLAINTEXT_PORT');
      assert.equal(d.summary, `Tunnel "pg": 127.0.0.1:${server.port} is plain HTTP, a plaintext port: it answered HEAD / with "HTTP/1.1 400 Bad Request".`);
      assert.match(d.detail ?? '', /SSLRequest with byte 0x48/);
    } finally {
      await server.close();
    }
  });
});
