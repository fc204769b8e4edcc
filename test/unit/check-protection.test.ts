/**
 * `mtls-tunnels check` says which protection applies to each tunnel's listener: the same-user
 * check (Linux loopback), the unix socket's mode, or none and why (allowOtherUsers).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCheck } from '../../src/cli/check';
import { tunnelConfig } from '../support/tunnels';
import { withPki } from '../support/pkiFixture';
import { startMtlsServer } from '../support/mtlsServer';

const pki = withPki();

async function check(configs: ReturnType<typeof tunnelConfig>[], json = false): Promise<string> {
  let out = '';
  await runCheck(configs, { stdout: (s) => (out += s), stderr: () => undefined }, { json });
  return out;
}

describe('check: the listener\'s protection', { skip: process.platform === 'win32' ? 'unix: listeners are refused on Windows' : undefined }, () => {
  test('one row per tunnel, under its first line; in --json too', async (t) => {
    const backend = await startMtlsServer(pki(), {}, t);
    const open = tunnelConfig(pki(), backend.port, { name: 'open', allowOtherUsers: true });
    const socket = tunnelConfig(pki(), backend.port, { name: 'sock', listen: 'unix:/tmp/mtls-check.sock' });
    const text = await check([tunnelConfig(pki(), backend.port, { name: 'mine' }), open, socket]);
    const rows = text.split('\n').filter((l) => l.startsWith('  Protection'));
    assert.equal(rows.length, 3, text);
    if (process.platform === 'linux') assert.match(rows[0], /^ {2}Protection {2}same-user check: only processes of .* \(uid \d+\) can connect; other local users are refused$/);
    else assert.match(rows[0], /^ {2}Protection {2}none: .* cannot tell which user owns a loopback connection/);
    assert.match(rows[1], /^ {2}Protection {2}none: "allowOtherUsers" is true: every local user and process can connect$/);
    assert.match(rows[2], /^ {2}Protection {2}unix socket: unix socket \/tmp\/mtls-check\.sock: only its owner can connect \(mode 0600\)$/);
    assert.match(text, /^Tunnel "mine" .*\n {2}Protection/);
    const json = JSON.parse(await check([open], true));
    assert.deepEqual(json[0].protection, { kind: 'none', reason: '"allowOtherUsers" is true: every local user and process can connect' });
  });
});
