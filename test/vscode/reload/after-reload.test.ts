// Second run of the reload pass, same folder and user data: what the user had running comes back
// by itself (restoreOnReload is on by default), what they stopped stays stopped, and one message
// says what was restored.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { EchoClient, extensionApi, portOf, tryConnect } from '../suite/fixture';
import { screenshot } from '../suite/screenshot';

describe('after the reload', () => {
  it('restores the running tunnel and the demo server, says so, and leaves the stopped one stopped', async () => {
    const api = await extensionApi();
    const notes = JSON.parse(fs.readFileSync(process.env.MTLS_TUNNELS_RELOAD_NOTES!, 'utf8')) as { demo: string };
    await api.settled;
    const message = api.notifications.find((m) => m.startsWith('Restored'));
    assert.equal(message, 'Restored from the last session: tunnel "kept" and the demo server.');
    assert.equal(api.manager.entry('kept')?.state, 'running');
    assert.equal(api.manager.entry('stopped')?.state, 'stopped');
    assert.equal(await tryConnect(Number(notes.demo.split(':').pop())), 'connected', `the demo server on ${notes.demo}`);

    const client = await EchoClient.connect(portOf(api, 'kept'));
    try {
      assert.equal(await client.echo('after the reload'), 'after the reload');
    } finally {
      client.close();
    }
    await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
    await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
    await vscode.commands.executeCommand('notifications.showList');
    await new Promise((r) => setTimeout(r, 300)); // let the list paint before the picture
    await screenshot('restored-after-reload');
    await vscode.commands.executeCommand('notifications.hideList');
  });

  it('then the user turns restoring off, with the tunnel still running', async () => {
    const api = await extensionApi();
    await vscode.workspace.getConfiguration('mtlsTunnels').update('restoreOnReload', false, vscode.ConfigurationTarget.Workspace);
    assert.deepEqual(api.manager.wantedNames(), ['kept']);
  });
});
