// First run of the reload pass: the user starts "kept" and "stopped", stops "stopped" again, and
// starts the demo server; then the window goes away (the run ends, VS Code is shut down).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { StartDemoResult } from '../../../src/vscode/demoCommands';
import { EchoClient, extensionApi, portOf, waitFor } from '../suite/fixture';

describe('before the reload', () => {
  it('runs one tunnel and the demo server, and stops the other tunnel', async () => {
    const api = await extensionApi();
    await waitFor(() => api.manager.names().length === 2, 'the two tunnels from the settings');
    assert.deepEqual(api.manager.entries().map((e) => e.state), ['stopped', 'stopped'], 'nothing runs before the user asks');
    await vscode.commands.executeCommand('mtlsTunnels.start', 'kept');
    await vscode.commands.executeCommand('mtlsTunnels.start', 'stopped');
    assert.equal(await vscode.commands.executeCommand('mtlsTunnels.stop', 'stopped'), true);
    const demo = await vscode.commands.executeCommand<StartDemoResult>('mtlsTunnels.startDemo');
    const client = await EchoClient.connect(portOf(api, 'kept'));
    try {
      assert.equal(await client.echo('before'), 'before');
    } finally {
      client.close();
    }
    assert.deepEqual(api.manager.wantedNames(), ['kept']);
    // On disk already, by the extension itself: nothing depends on the workbench flushing its
    // storage before the window goes.
    assert.ok(api.stateFile, 'the workspace has a storage folder, so the state is kept in a file');
    const kept = JSON.parse(fs.readFileSync(api.stateFile, 'utf8'));
    assert.deepEqual(kept['mtlsTunnels.wantedTunnels'], ['kept']);
    assert.equal(kept['mtlsTunnels.demo.wanted'], true, 'the demo server is marked as wanted');
    fs.writeFileSync(process.env.MTLS_TUNNELS_RELOAD_NOTES!, JSON.stringify({ demo: demo!.server }));
  });
});
