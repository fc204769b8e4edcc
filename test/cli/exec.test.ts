/**
 * `mtls-tunnels exec NAME -- COMMAND…` through the built CLI (`npm run build` first): the command
 * reaches the server through the tunnel from its variables alone (a real PostgreSQL that demands
 * a client certificate, psql without a single connection flag), its exit code and a signal's
 * ending come back as exec's, a signal sent to exec reaches it, and a start failure never runs it.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withCliWorkspace } from '../support/cliWorkspace';
import { listenLocal, unusedPort } from '../support/ports';
import { binary, clientEnv, requireBinary, RunningPostgres, startPostgres } from '../support/servers';

const CLI = process.env.MTLS_TUNNELS_CLI ?? path.join(__dirname, '..', '..', 'dist', 'cli.js');
const fixture = withCliWorkspace('mtls-exec');
const pki = fixture.pki;

interface Exec {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `mtls-tunnels exec ARGS…` with a client environment that carries none of the developer's PG* variables. */
function exec(args: string[]): Exec {
  const child = spawn(process.execPath, [CLI, 'exec', ...args], { env: clientEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  void exited.then(() => clearTimeout(timer));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function waitForOutput(e: Exec, pattern: RegExp): Promise<void> {
  let ended = false;
  void e.exited.then(() => (ended = true));
  while (!pattern.test(e.stdout())) {
    if (ended) throw new Error(`exec ended before printing ${pattern}\nstdout:\n${e.stdout()}\nstderr:\n${e.stderr()}`);
    await Promise.race([new Promise((resolve) => e.child.stdout!.once('data', resolve)), e.exited]);
  }
}

/** A command that sends `ping` through MTLS_TUNNEL_ADDR to the echo server and prints what comes back. */
const PING = [process.execPath, '-e', `
  const [host, port] = process.env.MTLS_TUNNEL_ADDR.split(/:(?=\\d+$)/);
  const s = require('net').connect(Number(port), host);
  let got = '';
  s.on('data', (d) => (got += d));
  s.on('end', () => { console.log('echoed ' + got + ' via ' + process.env.MTLS_TUNNEL_ADDR); });
  s.end('ping');
`];

describe('mtls-tunnels exec', () => {
  it('runs the command with the tunnel up: MTLS_TUNNEL_ADDR reaches the mTLS server', async () => {
    const e = exec(['echo', '--config', await fixture.configFile([fixture.tunnel()]), '--', ...PING]);
    const exit = await e.exited;
    assert.equal(exit.code, 0, e.stderr());
    assert.match(e.stdout(), /^echoed ping via 127\.0\.0\.1:\d+$/m);
  });

  it('listens on a free port when its own is taken, and says where in the variables', async () => {
    const holder = net.createServer();
    const taken = await listenLocal(holder);
    try {
      const e = exec(['echo', '--config', await fixture.configFile([fixture.tunnel({ listen: taken })]), '--', ...PING]);
      const exit = await e.exited;
      assert.equal(exit.code, 0, e.stderr());
      const port = Number(/via 127\.0\.0\.1:(\d+)/.exec(e.stdout())?.[1]);
      assert.ok(port > 0 && port !== taken, e.stdout());
      assert.doesNotMatch(e.stderr(), /ERROR|in use/, 'a port worked around is not reported as a failure');
    } finally {
      holder.close();
    }
  });

  it('uses its configured listen when it is free', async () => {
    const port = await unusedPort();
    const e = exec(['echo', '--config', await fixture.configFile([fixture.tunnel({ listen: port })]), '--', ...PING]);
    assert.equal((await e.exited).code, 0, e.stderr());
    assert.match(e.stdout(), new RegExp(`via 127\\.0\\.0\\.1:${port}$`, 'm'));
  });

  it("exits with the command's exit code", async () => {
    const file = await fixture.configFile([fixture.tunnel()]);
    for (const code of [0, 7, 255]) {
      const e = exec(['echo', '--config', file, '--', 'sh', '-c', `exit ${code}`]);
      assert.equal((await e.exited).code, code, e.stderr());
    }
  });

  it('passes SIGTERM sent to exec on to the command, and exits with what the command then does', async () => {
    const script = 'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.05; done';
    const e = exec(['echo', '--config', await fixture.configFile([fixture.tunnel()]), '--', 'sh', '-c', script]);
    await waitForOutput(e, /^ready$/m);
    e.child.kill('SIGTERM'); // to exec alone, not its process group: only forwarding reaches sh
    const exit = await e.exited;
    assert.deepEqual(exit, { code: 42, signal: null }, e.stderr());
    assert.match(e.stdout(), /^got TERM$/m);
  });

  it('exits 128 + the signal number when a signal ends the command', async () => {
    const e = exec(['echo', '--config', await fixture.configFile([fixture.tunnel()]), '--', 'sh', '-c', 'echo ready; exec sleep 30']);
    await waitForOutput(e, /^ready$/m);
    e.child.kill('SIGHUP');
    assert.deepEqual(await e.exited, { code: 128 + os.constants.signals.SIGHUP, signal: null }, e.stderr());
  });

  it('a start failure exits 1 with the one-line diagnosis, and the command never runs', async () => {
    const e = exec(['echo', '--config', await fixture.configFile([fixture.tunnel({ cert: path.join(fixture.dir(), 'missing.crt') })]), '--', 'sh', '-c', 'echo ran']);
    const exit = await e.exited;
    assert.equal(exit.code, 1);
    assert.equal(e.stdout(), '');
    assert.match(e.stderr(), /^mtls-tunnels: Tunnel "echo": the cert file .*missing\.crt does not exist\. Check the "cert" path/);
    assert.equal(e.stderr().trim().split('\n').length, 1, e.stderr());
  });

  it('a command that does not exist exits 127, as a shell does', async () => {
    const e = exec(['echo', '--config', await fixture.configFile([fixture.tunnel()]), '--', path.join(fixture.dir(), 'no-such-command')]);
    assert.equal((await e.exited).code, 127);
    assert.match(e.stderr(), /cannot run .*no-such-command: command not found/);
  });

  it('configuration and usage errors exit 2 without running anything', async () => {
    const file = await fixture.configFile([fixture.tunnel()]);
    const unknown = exec(['nope', '--config', file, '--', 'sh', '-c', 'echo ran']);
    assert.equal((await unknown.exited).code, 2);
    assert.match(unknown.stderr(), /no tunnel named "nope" \(defined: echo\)/);
    const bad = exec(['echo', '--config', await fixture.configFile([fixture.tunnel({ target: 'nowhere' })]), '--', 'sh', '-c', 'echo ran']);
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.stderr(), /echo.*target/);
    const noDashes = exec(['echo', '--config', file, 'sh']);
    assert.equal((await noDashes.exited).code, 2);
    assert.match(noDashes.stderr(), /put the command after --/);
    for (const e of [unknown, bad, noDashes]) assert.equal(e.stdout(), '');
  });
});

describe('mtls-tunnels exec: psql against a real PostgreSQL', { skip: requireBinary('initdb', 'postgres', 'psql') }, () => {
  let pg: RunningPostgres | undefined;
  // The database is named for the certificate's CN, so even PGDATABASE comes from the certificate.
  before(async () => {
    pg = await startPostgres({ pki: await pki.ready(), database: 'alice' });
  }, { timeout: 120_000 });
  after(() => pg?.stop());

  it("psql -Atc 'select 1' with no connection flags reaches the server as alice over TLS", { timeout: 60_000 }, async () => {
    const file = await fixture.configFile([fixture.tunnel({ name: 'pg', protocol: 'postgres', target: `127.0.0.1:${pg!.port}` })]);
    const query = 'select current_user, current_database(), ssl from pg_stat_ssl where pid = pg_backend_pid()';
    const e = exec(['pg', '--config', file, '--', binary('psql'), '-X', '-Atc', query]);
    const exit = await e.exited;
    assert.equal(exit.code, 0, e.stderr());
    assert.equal(e.stdout().trim(), 'alice|alice|t');

    const one = exec(['pg', '--config', file, '--', binary('psql'), '-X', '-Atc', 'select 1']);
    assert.equal((await one.exited).code, 0, one.stderr());
    assert.equal(one.stdout().trim(), '1');
  });

  it("psql's own failure exit code comes back through exec", { timeout: 60_000 }, async () => {
    const file = await fixture.configFile([fixture.tunnel({ name: 'pg', protocol: 'postgres', target: `127.0.0.1:${pg!.port}` })]);
    const e = exec(['pg', '--config', file, '--', binary('psql'), '-X', '-v', 'ON_ERROR_STOP=1', '-Atc', 'select * from no_such_table']);
    assert.equal((await e.exited).code, 1, e.stderr());
    assert.match(e.stderr(), /no_such_table/);
  });
});
