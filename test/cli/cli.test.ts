/**
 * The `mtls-tunnels` command as a user runs it: the built dist/cli.js in a child process, real
 * config files, a real mTLS server. Every exit code and every bad-input message of the contract.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CLI, listeningPorts, RunningProcess, runScript } from '../support/cliProcess';
import { withCliWorkspace } from '../support/cliWorkspace';
import { listenLocal, unusedPort } from '../support/ports';
import { until } from '../support/tunnelKit';

const fixture = withCliWorkspace('mtls-cli');
const pki = fixture.pki;

const run = (args: string[], cwd = fixture.dir()) => runScript(CLI, args, { cwd });

/** Starts `up` and resolves once every expected tunnel printed its listening line. */
async function startUp(args: string[], expected: number): Promise<{ up: RunningProcess; ports: Map<string, number> }> {
  const up = RunningProcess.start(CLI, ['up', ...args], { cwd: fixture.dir() });
  await up.waitForOutput((stdout) => listeningPorts(stdout).size === expected, `${expected} listening lines`);
  return { up, ports: listeningPorts(up.stdout) };
}

function echo(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('echo timed out')));
    s.end(payload);
  });
}

describe('mtls-tunnels up', () => {
  it('carries bytes exactly through each tunnel, logs connections, and drains on SIGINT with exit 0', async () => {
    const file = await fixture.configFile('two.json', { tunnels: [fixture.tunnel(), fixture.tunnel({ name: 'echo-2' })] });
    const { up, ports } = await startUp(['--config', file], 2);
    try {
      assert.deepEqual([...ports.keys()].sort(), ['echo', 'echo-2']);
      assert.match(up.stdout, new RegExp(`^echo listening on 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${fixture.server().port} \\(tls\\)$`, 'm'));
      const payload = randomBytes(3 << 20);
      const [a, b] = await Promise.all([echo(ports.get('echo')!, payload), echo(ports.get('echo-2')!, payload)]);
      const sum = (x: Buffer) => createHash('sha256').update(x).digest('hex');
      assert.equal(sum(a), sum(payload));
      assert.equal(sum(b), sum(payload));
      // The close line is logged after the connection is gone: wait for it.
      await until(() => /\[echo\] #1 closed after .*3\.0 MiB up, 3\.0 MiB down/.test(up.stderr), 5000, `the close line in:\n${up.stderr}`);
      assert.match(up.stderr, /\[echo\] #1 127\.0\.0\.1:\d+ connected \(TLSv1\.3\)/);
      assert.match(up.stderr, /\[echo\] #1 closed after .*3\.0 MiB up, 3\.0 MiB down/);
      assert.equal(up.stderr.match(/\[echo\] #1 (\S+ )?closed after/g)?.length, 1, `one close line per connection:\n${up.stderr}`);
    } finally {
      up.child.kill('SIGINT');
    }
    assert.equal((await up.exited).code, 0);
    assert.match(up.stderr, /SIGINT: stopping 2 tunnel\(s\)/);
  });

  it('starts only the tunnels named on the command line', async () => {
    const file = await fixture.configFile('named.json', { tunnels: [fixture.tunnel(), fixture.tunnel({ name: 'other' })] });
    const { up, ports } = await startUp(['other', '--config', file], 1);
    assert.equal((await up.stop('SIGTERM')).code, 0);
    assert.deepEqual([...ports.keys()], ['other']);
  });

  it('reads .vscode/settings.json as JSONC by default, with ${workspaceFolder}', async () => {
    const ws = path.join(fixture.dir(), 'ws');
    const p = pki();
    await mkdir(path.join(ws, 'certs'), { recursive: true });
    await writeFile(path.join(ws, 'certs', 'ca.crt'), await (await import('node:fs/promises')).readFile(p.ca));
    await fixture.configFile('ws/.vscode/settings.json', `{
      // a comment, and trailing commas below
      "editor.tabSize": 2,
      "mtlsTunnels.tunnels": [
        { "name": "jsonc", "listen": 0, "target": "127.0.0.1:${fixture.server().port}", "serverName": "localhost",
          "cert": "${p.client.cert}", "key": "${p.client.key}", "ca": "\${workspaceFolder}/certs/ca.crt", },
      ],
    }`);
    const up = RunningProcess.start(CLI, ['up'], { cwd: ws });
    try {
      await up.waitForOutput((stdout) => listeningPorts(stdout).has('jsonc'), 'the listening line');
      const port = listeningPorts(up.stdout).get('jsonc')!;
      assert.equal((await echo(port, Buffer.from('through jsonc'))).toString(), 'through jsonc');
      assert.equal((await up.stop('SIGINT')).code, 0);
    } finally {
      await up.dispose();
    }
  });

  it('exits 2 with one line per config error, naming tunnel and field', async () => {
    const file = await fixture.configFile('bad.json', { tunnels: [
      fixture.tunnel({ name: 'a', listen: 70000 }),
      fixture.tunnel({ name: 'b', protocol: 'postgress' }),
      fixture.tunnel({ name: 'c', listen: '0.0.0.0:15000' }),
      fixture.tunnel({ name: 'a' }),
      fixture.tunnel({ name: 'd', pfx: '/x.p12' }),
    ] });
    const r = await run(['up', '--config', file]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /tunnel "a": listen: port 70000 is out of range/);
    assert.match(r.stderr, /tunnel "b": protocol: unknown protocol "postgress".*did you mean "postgres"/);
    assert.match(r.stderr, /tunnel "c": listen: 0\.0\.0\.0 is not a loopback address.*unsafeListen/);
    assert.match(r.stderr, /tunnel "a": name: duplicate name/);
    assert.match(r.stderr, /tunnel "d": pfx: use either pfx or cert \+ key, not both/);
  });

  it('exits 2 for a missing config file, invalid JSON, an unknown tunnel name, and bad usage', async () => {
    const missing = await run(['up', '--config', path.join(fixture.dir(), 'nope.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.json: no such file/);

    const broken = await run(['up', '--config', await fixture.configFile('broken.json', '{ "tunnels": [ { "name": "x" ')]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /broken\.json: not valid JSON at line 1/);

    const unknown = await run(['up', 'ghost', '--config', await fixture.configFile('one.json', { tunnels: [fixture.tunnel()] })]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no tunnel named "ghost" \(defined: echo\)/);

    const usage = await run(['up', '--bogus']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown option --bogus/);
    const noCommand = await run(['frobnicate']);
    assert.equal(noCommand.code, 2);
    assert.match(noCommand.stderr, /unknown command "frobnicate"/);
  });

  it('exits 1 before any tunnel listens when credentials are bad', async () => {
    const p = pki();
    const file = await fixture.configFile('badcreds.json', { tunnels: [
      fixture.tunnel({ name: 'good', listen: 0 }),
      fixture.tunnel({ name: 'mismatch', key: p.rsaClient.key }),
    ] });
    const r = await run(['up', '--config', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '', 'no tunnel may report listening');
    assert.match(r.stderr, /Tunnel "mismatch": the private key .* does not belong to the certificate/);

    const missing = await run(['up', '--config', await fixture.configFile('missingcert.json', { tunnels: [fixture.tunnel({ cert: path.join(fixture.dir(), 'absent.crt') })] })]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Tunnel "echo": the cert file .*absent\.crt does not exist/);

    // cert alone is a combined PEM: a cert file without the key is said at load, naming "cert".
    const keyless = await run(['up', '--config', await fixture.configFile('keyless.json', { tunnels: [fixture.tunnel({ name: 'keyless', key: undefined })] })]);
    assert.equal(keyless.code, 1, keyless.stdout + keyless.stderr);
    assert.match(keyless.stderr, /Tunnel "keyless": the cert file .*client\.crt holds no private key, and "key" is not set\./);
    assert.match(keyless.stderr, /Set "key" to the certificate's private key file/);
  });

  it('exits 1 when the listen port is in use, naming tunnel and port, and leaves no tunnel running', async () => {
    const blocker = net.createServer();
    const busy = await listenLocal(blocker);
    try {
      const file = await fixture.configFile('busy.json', { tunnels: [fixture.tunnel({ name: 'first' }), fixture.tunnel({ name: 'busy', listen: busy })] });
      const r = await run(['up', '--config', file]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`Tunnel "busy": port ${busy} on 127\\.0\\.0\\.1 is already in use`));
    } finally {
      blocker.close();
    }
  });
});

describe('mtls-tunnels check and inspect', () => {
  it('check exits 0 for a working tunnel and 1 for a broken one, in plain words', async () => {
    const p = pki();
    const file = await fixture.configFile('check.json', { tunnels: [fixture.tunnel(), fixture.tunnel({ name: 'rogue', cert: p.rogueClient.cert, key: p.rogueClient.key })] });
    const good = await run(['check', 'echo', '--config', file]);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /TLS 1\.3, TLS_AES/);
    assert.match(good.stdout, /Verdict: OK/);
    // The rogue certificate comes from a CA this server does not trust. The server is Node's: it
    // asks for a certificate, finishes the TLS 1.3 handshake, checks the certificate in JavaScript
    // and closes without an alert. The doctor then reads the CAs the server names in a TLS 1.2
    // CertificateRequest and compares: "Rogue CA" is not among them, a fact (CLIENT_CA_NOT_ACCEPTED),
    // where without that list it could only guess (CLIENT_CERT_REJECTED).
    const bad = await run(['check', 'rogue', '--config', file]);
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.ok(bad.stdout.includes('✗ Tunnel "rogue": the server accepts client certificates from "CN=mTLS Tunnels Test Root CA, O=mTLS Tunnels Test" only (it lists them in its CertificateRequest); yours (CN=alice) was issued by "CN=Rogue CA, O=mTLS Tunnels Test", which is not among them.'), bad.stdout);
    assert.match(bad.stdout, /\n {2}Client CAs  the server accepts "CN=mTLS Tunnels Test Root CA, O=mTLS Tunnels Test"\n/);
    const json = await run(['check', 'rogue', '--json', '--config', file]);
    assert.equal(json.code, 1, json.stdout + json.stderr);
    const [report] = JSON.parse(json.stdout) as { diagnoses: { code: string }[]; clientCertificateRequired?: boolean }[];
    assert.deepEqual(report.diagnoses.map((d) => d.code), ['CLIENT_CA_NOT_ACCEPTED']);
    assert.equal(report.clientCertificateRequired, true);
  });

  it('check with two targets reports each, and exits 1 naming the one that is down', async () => {
    const down = await unusedPort();
    const file = await fixture.configFile('check-targets.json', { tunnels: [fixture.tunnel({ name: 'pair', target: [`127.0.0.1:${fixture.server().port}`, `127.0.0.1:${down}`] })] });
    const out = await run(['check', 'pair', '--config', file]);
    assert.equal(out.code, 1, out.stdout + out.stderr);
    assert.match(out.stdout, new RegExp(`^Tunnel "pair" → 2 targets \\(failover, tls\\)\n`));
    assert.ok(out.stdout.includes(`  Target 1 of 2: 127.0.0.1:${fixture.server().port} (server name localhost)\n`), out.stdout);
    assert.ok(out.stdout.includes(`  Target 2 of 2: 127.0.0.1:${down} (server name localhost)\n`), out.stdout);
    // The first target's own section: its handshake and its own verdict.
    const first = out.stdout.slice(0, out.stdout.indexOf('Target 2 of 2'));
    assert.match(first, /TLS 1\.3, TLS_AES/);
    assert.match(first, /Verdict: OK, this target would work\./);
    const second = out.stdout.slice(out.stdout.indexOf('Target 2 of 2'));
    assert.ok(second.includes(`✗ Tunnel "pair": nothing is listening at 127.0.0.1:${down} (connection refused).`), out.stdout);
    assert.match(second, /Verdict: FAILED, this target would not work\./);
    assert.ok(out.stdout.trimEnd().endsWith(`Verdict: FAILED for 127.0.0.1:${down}: the tunnel would use 127.0.0.1:${fixture.server().port} instead (failover), but fix or remove the broken target.`), out.stdout);
    const json = await run(['check', 'pair', '--json', '--config', file]);
    assert.equal(json.code, 1);
    const [report] = JSON.parse(json.stdout) as { verdict: string; diagnoses: { summary: string }[]; targets: { target: string; verdict: string }[] }[];
    // The tunnel's own diagnoses name the target each is about (what the editor and /readyz quote).
    assert.deepEqual(report.diagnoses.map((d) => d.summary), [`Tunnel "pair", target 127.0.0.1:${down}: nothing is listening at 127.0.0.1:${down} (connection refused).`]);
    assert.deepEqual(report.targets.map((t) => [t.target, t.verdict]), [[`127.0.0.1:${fixture.server().port}`, 'ok'], [`127.0.0.1:${down}`, 'failed']]);
    assert.equal(report.verdict, 'failed');
  });

  it('inspect summarizes a certificate and exits 1 for a missing file', async () => {
    const ok = await run(['inspect', pki().client.cert]);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /alice/);
    const missing = await run(['inspect', path.join(fixture.dir(), 'absent.pem')]);
    assert.equal(missing.code, 1);
  });
});
