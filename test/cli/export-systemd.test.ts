/**
 * `mtls-tunnels export NAME --format systemd` through the built CLI (`npm run build` first): a
 * relative --config becomes the absolute path a unit needs, node and the CLI are this
 * installation's, and the unit's ExecStart, run as systemd would run it, brings the tunnel up and
 * stops cleanly on SIGTERM (systemctl stop), so Restart=on-failure does not fire.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { withCliWorkspace } from '../support/cliWorkspace';

const CLI = process.env.MTLS_TUNNELS_CLI ?? path.join(__dirname, '..', '..', 'dist', 'cli.js');
const fixture = withCliWorkspace('mtls-cli-systemd');
const pki = fixture.pki;

describe('mtls-tunnels export --format systemd', () => {
  it("writes a unit whose ExecStart runs this tunnel from the absolute settings path, and stops with exit 0 on SIGTERM", async () => {
    const p = pki();
    await writeFile(path.join(fixture.dir(), 'tunnels.json'), JSON.stringify({ tunnels: [{ name: 'echo', listen: 0, target: `127.0.0.1:${fixture.server().port}`, serverName: 'localhost', cert: p.client.cert, key: p.client.key, ca: p.ca }] }));
    const exported = spawnSync(process.execPath, [CLI, 'export', 'echo', '--format', 'systemd', '--config', 'tunnels.json'], { cwd: fixture.dir(), encoding: 'utf8' });
    assert.equal(exported.status, 0, exported.stderr);
    const exec = /^ExecStart=(.*)$/m.exec(exported.stdout)?.[1];
    assert.equal(exec, [process.execPath, path.resolve(CLI), 'up', 'echo', '--config', path.join(fixture.dir(), 'tunnels.json')].join(' '));
    assert.match(exported.stderr, /suggested file name mtls-tunnel-echo\.service/);

    // Plain words only in this unit, so splitting on spaces is what systemd does with it.
    const [file, ...args] = exec!.split(' ');
    const child = spawn(file, args, { cwd: '/' });
    let stdout = '';
    const listening = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => (stdout += d) && /^echo listening on /m.test(stdout) && resolve());
      child.once('exit', (code) => reject(new Error(`exited with ${code} before listening`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await listening;
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
