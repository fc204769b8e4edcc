/**
 * `mtls-tunnels export NAME --format systemd`: a user unit that runs `mtls-tunnels up NAME
 * --config ABS` with restart on failure and hardening that still reads the certificates; names
 * and paths quoted so systemd neither splits nor expands them; and systemd's own parser
 * (`systemd-analyze verify`) accepting the file without a single warning, where it is installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { runExport } from '../../src/cli/export';
import { ExportError } from '../../src/core/export';
import { SystemdContext, systemdUnit, systemdWord } from '../../src/core/export/systemd';
import { exportTestTunnel, hasLine, lines } from '../support/exportKit';

const SECRET = 'correct-horse-battery-staple';
const context: SystemdContext = { node: '/usr/bin/node', cli: '/opt/mtls-tunnels/dist/cli.js', configFile: '/home/alice/work/.vscode/settings.json' };
const tunnel = (overrides: Record<string, unknown> = {}) => exportTestTunnel({ cert: '/home/alice/pki/client.crt', key: '/home/alice/pki/client.key', ca: '/home/alice/pki/ca.crt', ...overrides }, { KEY_PASS: SECRET });

describe('export --format systemd', () => {
  test('runs mtls-tunnels up for this tunnel from its absolute settings file, restarting on failure but not on a config error', () => {
    const r = systemdUnit(tunnel(), context);
    assert.equal(r.fileName, 'mtls-tunnel-staging-db.service');
    hasLine(r.text, 'ExecStart=/usr/bin/node /opt/mtls-tunnels/dist/cli.js up "staging db" --config /home/alice/work/.vscode/settings.json');
    for (const l of ['[Unit]', '[Service]', '[Install]', 'Type=exec', 'Restart=on-failure', 'RestartPreventExitStatus=2', 'WantedBy=default.target']) hasLine(r.text, l);
    hasLine(r.text, 'Description=mTLS tunnel staging db (127.0.0.1:15432 -> db.internal:5432)');
    assert.match(r.text, /^#\s+systemctl --user daemon-reload && systemctl --user enable --now mtls-tunnel-staging-db\.service$/m);
    assert.deepEqual(r.notes, []);
  });

  test('hardened, yet the certificate files in the home folder stay readable', () => {
    const r = systemdUnit(tunnel(), context);
    for (const l of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=read-only', 'PrivateTmp=yes', 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'UMask=0077']) hasLine(r.text, l);
    assert.ok(!lines(r.text).some((l) => /^(ProtectHome=(yes|tmpfs)|InaccessiblePaths=|MemoryDenyWriteExecute=)/.test(l)), 'the home folder is hidden, or the JIT is forbidden');
  });

  test('a certificate under /tmp keeps the shared /tmp, and says so', () => {
    const r = systemdUnit(tunnel({ cert: '/tmp/pki/client.crt' }), context);
    assert.ok(!lines(r.text).includes('PrivateTmp=yes'));
    assert.match(r.notes.join('\n'), /under \/tmp.*no PrivateTmp=/);
  });

  test('a passphrase from the environment: an EnvironmentFile for it, never the passphrase itself', () => {
    const r = systemdUnit(tunnel({ passphrase: '${env:KEY_PASS}' }), context);
    hasLine(r.text, 'EnvironmentFile=-%h/.config/mtls-tunnels/staging-db.env');
    assert.ok(!r.text.includes(SECRET) && !r.notes.join('\n').includes(SECRET), 'the passphrase leaked');
    assert.match(r.notes.join('\n'), /~\/\.config\/mtls-tunnels\/staging-db\.env \(mode 0600\)/);
  });

  test('names and paths are quoted so systemd neither splits them nor expands %, $ or \\', () => {
    assert.equal(systemdWord('plain/path-1.json'), 'plain/path-1.json');
    assert.equal(systemdWord('a b'), '"a b"');
    assert.equal(systemdWord('100%'), '"100%%"');
    assert.equal(systemdWord('$HOME'), '"$$HOME"');
    assert.equal(systemdWord('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"');
    assert.equal(systemdWord('-x', 0), '"-x"', 'a leading - on the executable would mean "ignore failure"');
    assert.equal(systemdWord('--config', 2), '--config');
    const r = systemdUnit(tunnel({ name: 'db 100% $USER' }), context);
    assert.match(r.text, /^ExecStart=\S+ \S+ up "db 100%% \$\$USER" --config /m);
    assert.match(r.text, /^Description=mTLS tunnel db 100%% \$USER /m);
  });

  test('refuses what a unit cannot hold: a line break, a relative path', () => {
    assert.throws(() => systemdUnit(tunnel(), { ...context, configFile: '/home/alice/a\nExecStartPre=/bin/evil' }), ExportError);
    assert.throws(() => systemdUnit(tunnel(), { ...context, configFile: 'settings.json' }), /not absolute/);
  });

  test('through runExport: the unit on stdout, its file name on stderr, exit 0', async () => {
    let out = '';
    let err = '';
    const code = await runExport([tunnel()], 'systemd', { stdout: (s) => (out += s), stderr: (s) => (err += s) }, context);
    assert.equal(code, 0, err);
    assert.match(out, /^ExecStart=/m);
    assert.match(err, /written as systemd; suggested file name mtls-tunnel-staging-db\.service/);
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  const why = analyze.error ? 'systemd-analyze is not installed' : undefined;
  test('systemd-analyze verify --user accepts the unit without a warning', { skip: why }, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mtls-systemd-'));
    try {
      // A user manager needs a runtime folder; a CI container has none of its own.
      const runtime = path.join(dir, 'runtime');
      const unitDir = path.join(dir, 'units');
      for (const d of [runtime, unitDir]) spawnSync('mkdir', ['-m', '700', '-p', d]);
      // Real executables, since verify checks that ExecStart's exists; a passphrase, so EnvironmentFile is checked too.
      const r = systemdUnit(tunnel({ name: 'staging db 100%', passphrase: '${env:KEY_PASS}' }), { node: process.execPath, cli: __filename, configFile: path.join(dir, 'settings.json') });
      const file = path.join(unitDir, r.fileName);
      writeFileSync(file, r.text);
      const result = spawnSync('systemd-analyze', ['verify', '--user', file], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
      assert.equal(result.status, 0, result.stderr);
      const ours = result.stderr.split('\n').filter((l) => l.includes(r.fileName));
      assert.deepEqual(ours, [], result.stderr);
      // The same check catches a unit systemd would only half understand.
      writeFileSync(file, r.text.replace('Restart=on-failure', 'Restart=sometimes'));
      const broken = spawnSync('systemd-analyze', ['verify', '--user', file], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
      assert.match(broken.stderr, /restart specifier/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
