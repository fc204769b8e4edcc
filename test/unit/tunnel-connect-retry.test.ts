/**
 * Connect retries: a target that refuses (a server restarting) is connected to again with backoff
 * within connectTimeoutMs, so the local client's bytes arrive once it listens; a target that
 * never comes back is reported as refused at the deadline; other errors are not retried.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Diagnosis } from '../../src/core/diagnostics/diagnosis';
import { startMtlsServer } from '../support/mtlsServer';
import { unusedPort } from '../support/ports';
import { startRawServer } from '../support/rawServers';
import { tunnelConfig } from '../support/tunnels';
import { closed, connectLocal, readBytes, recordingLogger, startTunnel, tunnelPort, until } from '../support/tunnelKit';
import { withPki } from '../support/pkiFixture';

const retries = (lines: string[]) => lines.filter((l) => l.includes('target refused the connection'));

describe('tunnel connect retries', () => {
  const pki = withPki();

  test('a target that starts listening after the client connected gets the client\'s bytes', { timeout: 20_000 }, async (t) => {
    const port = await unusedPort();
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), port, { name: 'restarting', connectTimeoutMs: 10_000 }), { logger });
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    client.write('sent while the server was down');
    // The server comes up only once the tunnel has been refused at least once.
    await until(() => retries(logger.lines).length >= 1, 5000, 'the first refusal');
    await startMtlsServer(pki(), { port }, t);
    // The echo server sends back the bytes from before it listened, then the later ones.
    client.write(', and after');
    const echoed = await readBytes(client, 'sent while the server was down, and after'.length, 5000);
    assert.equal(echoed.toString(), 'sent while the server was down, and after');
    assert.deepEqual(diagnoses, [], 'a refusal that was retried in time is no failure');
    assert.equal(tunnel.snapshot().handshakesOk, 1);
    assert.match(retries(logger.lines)[0], /^debug .*#1 target refused the connection \(1\): connecting again in 50 ms/);
  });

  test('a target that never comes back: CONNECTION_REFUSED at the deadline, after several attempts', { timeout: 20_000 }, async (t) => {
    const port = await unusedPort();
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), port, { name: 'gone', connectTimeoutMs: 1000 }), { logger });
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    await closed(client, 10_000);
    assert.equal(diagnoses.length, 1);
    assert.equal(diagnoses[0].code, 'CONNECTION_REFUSED');
    assert.ok(diagnoses[0].summary.includes(`127.0.0.1:${port}`), diagnoses[0].summary);
    assert.equal(tunnel.snapshot().handshakesFailed.CONNECTION_REFUSED, 1);
    // 50, 100, 200, 400 ms fit in 1000 ms; the waits doubled.
    const waits = retries(logger.lines).map((l) => Number(/again in (\d+) ms/.exec(l)?.[1]));
    assert.ok(waits.length >= 2, logger.lines.join('\n'));
    assert.deepEqual(waits, [50, 100, 200, 400].slice(0, waits.length));
  });

  test('an error other than a refusal is not retried', { timeout: 20_000 }, async (t) => {
    let accepted = 0;
    const server = await startRawServer((s) => {
      accepted++;
      s.resetAndDestroy();
    });
    t.after(() => server.close());
    const logger = recordingLogger();
    const tunnel = await startTunnel(t, tunnelConfig(pki(), server.port, { name: 'resets', connectTimeoutMs: 5000 }), { logger });
    const diagnoses: Diagnosis[] = [];
    tunnel.on('diagnosis', (d) => diagnoses.push(d));
    const client = await connectLocal(t, tunnelPort(tunnel));
    await closed(client, 10_000);
    await until(() => diagnoses.length === 1, 3000, 'the diagnosis');
    assert.notEqual(diagnoses[0].code, 'CONNECTION_REFUSED');
    assert.equal(accepted, 1, 'one attempt only');
    assert.deepEqual(retries(logger.lines), []);
  });
});
