// Restricted Mode: the workspace is not trusted. Its settings name a working autoStart tunnel
// (written by runTests before VS Code opened it), and nothing of it may run.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { extensionApi, tryConnect, waitFor } from '../suite/fixture';

describe('an untrusted workspace (Restricted Mode)', () => {
  const port = Number(process.env.MTLS_TUNNELS_RESTRICTED_PORT);

  it('reads no tunnel from the workspace settings and starts none by itself', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'this pass opens the workspace without trusting it');
    assert.ok(port > 0, 'runTests passes the port of the tunnel in the untrusted settings');
    const api = await extensionApi();
    // Give autoStart every chance to (wrongly) happen.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(api.manager.names(), []);
    assert.equal(await tryConnect(port), 'ECONNREFUSED', 'nothing listens on the untrusted tunnel\'s port');
    assert.equal(api.statusBarText(), '', 'the status bar item stays hidden');
  });

  it('refuses to start tunnels and says why, with the way out', async () => {
    const api = await extensionApi();
    const seen = api.notifications.length;
    await vscode.commands.executeCommand('mtlsTunnels.startAll');
    const message = await waitFor(() => api.notifications.slice(seen).find((m) => m.includes('Restricted Mode')), 'the Restricted Mode message');
    assert.match(message, /Trust the workspace/);
    assert.equal(await tryConnect(port), 'ECONNREFUSED');
  });

  it('never runs the identityCommand the untrusted settings name', async () => {
    const marker = process.env.MTLS_TUNNELS_RESTRICTED_MARKER;
    assert.ok(marker, 'runTests passes the file the command would create');
    await extensionApi();
    await vscode.commands.executeCommand('mtlsTunnels.startAll');
    assert.equal(fs.existsSync(marker), false, 'the command never ran');
  });

  it('ignores the workspace value even when a test writes one', async () => {
    const api = await extensionApi();
    const settings = vscode.workspace.getConfiguration('mtlsTunnels');
    const before = settings.inspect('tunnels')?.workspaceValue;
    try {
      await settings.update('tunnels', [{ name: 'written-later', listen: 0, target: '127.0.0.1:1', cert: '/nonexistent.crt', key: '/nonexistent.key' }], vscode.ConfigurationTarget.Workspace);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(api.manager.names(), []);
    } finally {
      await settings.update('tunnels', before, vscode.ConfigurationTarget.Workspace);
    }
  });
});
