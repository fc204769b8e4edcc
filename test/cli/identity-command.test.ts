/**
 * `mtls-tunnels up` with identityCommand: the built CLI runs the command in the config file's
 * folder (a relative `./renew.sh` works from anywhere), starts on the certificate it printed,
 * renews it while running, and says so on stderr; a tunnel inside its renewal window with
 * nothing to renew it is warned about.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, listeningPorts, RunningProcess } from '../support/cliProcess';
import { MtlsServer, startMtlsServer } from '../support/mtlsServer';
import { withPki } from '../support/pkiFixture';
import { makeShortLivedCa, ShortLivedCa } from '../support/shortLivedCa';
import { until } from '../support/tunnelKit';

const pki = withPki();
let dir: string;
let ca: ShortLivedCa;
let server: MtlsServer;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-cli-identity-'));
  ca = makeShortLivedCa(path.join(dir, 'ca'));
  server = await startMtlsServer(await pki.ready(), { clientCa: ca.caCert });
});
after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

function echo(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('echo timed out')));
    s.end(text);
  });
}

describe('mtls-tunnels up with identityCommand', () => {
  it('runs it in the config folder, starts on its output, renews while running and says so', async () => {
    const project = path.join(dir, 'project');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(project, 'certs'), { recursive: true }));
    await writeFile(path.join(project, 'renew.sh'), `#!/bin/sh\n${ca.command({ lifetimeSeconds: 8, output: 'stdout' })}\n`);
    await chmod(path.join(project, 'renew.sh'), 0o755);
    const p = pki();
    const config = path.join(project, 'tunnels.json');
    await writeFile(config, JSON.stringify({ tunnels: [
      { name: 'renewing', listen: 0, target: `127.0.0.1:${server.port}`, serverName: 'localhost', ca: p.ca,
        cert: 'certs/me.crt', key: 'certs/me.key', identityCommand: './renew.sh', renewBefore: '6s' },
      { name: 'aging', listen: 0, target: `127.0.0.1:${server.port}`, serverName: 'localhost', ca: p.ca,
        cert: p.client.cert, key: p.client.key, renewBefore: '400d' },
    ] }));
    const up = RunningProcess.start(CLI, ['up', '--config', config], { cwd: os.tmpdir() });
    try {
      await up.waitForOutput((stdout) => listeningPorts(stdout).size === 2, 'two listening lines');
      const port = listeningPorts(up.stdout).get('renewing')!;
      assert.equal(await echo(port, 'before'), 'before');
      assert.match(up.stderr, /\[renewing\] running identityCommand: the client certificate cannot be used \(FILE_MISSING\)/);
      assert.match(up.stderr, /\[aging\] Tunnel "aging": your client certificate expires at .* inside its renewal window; nothing renews it here \(no identityCommand\)/);
      await until(() => (up.stderr.match(/\[renewing\] credentials reloaded: cert the output of identityCommand/g) ?? []).length >= 2, 20_000, `two renewals in:\n${up.stderr}`);
      assert.equal(await echo(port, 'after'), 'after');
      assert.match(up.stderr, /\[renewing\] running identityCommand: the renewal window has opened/);
      assert.ok(!/BEGIN|PRIVATE KEY/.test(up.stderr + up.stdout));
      assert.equal((await up.stop('SIGINT')).code, 0);
    } finally {
      await up.dispose();
    }
  });
});
