/**
 * Diagnoses are rendered from typed facts, never by editing another module's sentence: the
 * broken connection's number, and a config file that is missing (the CLI's hint keys on that).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { selectTunnels } from '../../src/cli/config';
import { ConfigFileError, loadConfigFile } from '../../src/core/config/file';
import { diagnose } from '../../src/core/diagnostics/diagnose';
import { withPki } from '../support/pkiFixture';
import { tunnelConfig } from '../support/tunnels';

const pki = withPki();

describe('diagnoses from typed facts', () => {
  test('a connection that breaks mid-stream is named by its number, inside the sentence', () => {
    const reset: NodeJS.ErrnoException = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const config = tunnelConfig(pki(), 5432, { name: 'db' });
    const broken = diagnose(reset, { config, phase: 'established', connectionId: 7 });
    assert.equal(broken.code, 'PEER_RESET');
    assert.equal(broken.summary, 'Tunnel "db": 127.0.0.1:5432 reset the connection mid-stream (connection #7).');
    assert.equal(diagnose(reset, { config, phase: 'established' }).summary, 'Tunnel "db": 127.0.0.1:5432 reset the connection mid-stream.');
  });

  test('a missing config file is a ConfigFileError with reason "missing"; the CLI adds where to run', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-cfg-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const missing = await loadConfigFile(path.join(dir, 'nope.json')).then(() => undefined, (e: unknown) => e);
    assert.ok(missing instanceof ConfigFileError);
    assert.equal(missing.reason, 'missing');

    const cwd = process.cwd();
    process.chdir(dir);
    t.after(() => process.chdir(cwd));
    const byDefault = await selectTunnels(undefined, []);
    assert.deepEqual(byDefault, { ok: false, lines: [`${path.join('.vscode', 'settings.json')}: no such file (run in a workspace folder, or pass --config FILE)`] });
    const named = await selectTunnels(path.join(dir, 'nope.json'), []);
    assert.deepEqual(named, { ok: false, lines: [`${path.join(dir, 'nope.json')}: no such file`] });
  });
});
