// The built-in demo, as the walkthrough drives it: "Start the Demo Server" makes a PKI and a real
// mTLS echo server, adds a tunnel to the settings that bytes really cross, adds a tunnel with an
// untrusted certificate whose failure reads as a diagnosis, and stops the server again.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { TestApi } from '../../../src/extension';
import type { StartDemoResult } from '../../../src/vscode/demoCommands';
import { EXTENSION_ID, EchoClient, extensionApi, portOf, tryConnect, waitFor, withTunnels } from './fixture';
import { screenshot } from './screenshot';

const portOfAddress = (address: string) => Number(address.split(':').pop());

/** The Tunnels view in front, with that tunnel selected, for a screenshot. */
async function showView(api: TestApi, name: string): Promise<void> {
  await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
  await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
  const item = await waitFor(() => api.tree.tunnelItem(name), `the tree item of ${name}`);
  await api.view.reveal(item, { expand: true, select: true, focus: true });
  // Wide enough that the tunnel's addresses are not cut off.
  for (let i = 0; i < 2; i++) await vscode.commands.executeCommand('workbench.action.decreaseViewWidth');
  await new Promise((r) => setTimeout(r, 500));
}

describe('the demo', () => {
  after(() => vscode.commands.executeCommand('mtlsTunnels.stopDemo'));

  it('starts a demo server and adds a tunnel to it that echoes bytes', async function () {
    this.timeout(60_000);
    await withTunnels([], async (api) => {
      const result = await vscode.commands.executeCommand<StartDemoResult>('mtlsTunnels.startDemo', { addTunnel: 'trusted' });
      assert.equal(result?.tunnel, 'demo');
      const serverPort = portOfAddress(result.server);

      // An ordinary entry in the workspace settings, pointing at the demo server and the demo PKI.
      const [entry] = vscode.workspace.getConfiguration('mtlsTunnels').inspect<Array<Record<string, unknown>>>('tunnels')!.workspaceValue!;
      assert.equal(entry.name, 'demo');
      assert.equal(entry.target, `127.0.0.1:${serverPort}`);
      assert.equal(entry.protocol, 'tls');
      assert.equal(typeof entry.listen, 'number');
      const config = api.manager.entry('demo')!.config;
      for (const file of [config.cert!, config.key!, config.ca!]) assert.ok(fs.existsSync(file), `${file} is missing`);
      assert.equal(path.basename(path.dirname(config.ca!)), 'demo-pki');

      await vscode.commands.executeCommand('mtlsTunnels.start', 'demo');
      const client = await EchoClient.connect(portOf(api, 'demo'));
      try {
        assert.equal(await client.echo('hello, demo'), 'hello, demo');
        await showView(api, 'demo');
        await screenshot('demo-running');
      } finally {
        client.close();
      }

      // Asked again, it finds the tunnel it added instead of adding another.
      const again = await vscode.commands.executeCommand<StartDemoResult>('mtlsTunnels.startDemo', { addTunnel: 'trusted' });
      assert.deepEqual(again, result);
      assert.equal(vscode.workspace.getConfiguration('mtlsTunnels').inspect<unknown[]>('tunnels')!.workspaceValue!.length, 1);
    });
  });

  it('explains why the server refuses the untrusted demo tunnel', async function () {
    this.timeout(60_000);
    await withTunnels([], async (api) => {
      const result = await vscode.commands.executeCommand<StartDemoResult>('mtlsTunnels.startDemo', { addTunnel: 'untrusted' });
      assert.equal(result?.tunnel, 'demo-untrusted');
      await vscode.commands.executeCommand('notifications.clearAll');
      const shownBefore = api.notifications.length;
      const report = await vscode.commands.executeCommand<string>('mtlsTunnels.testConnection', 'demo-untrusted');
      assert.match(report, /Untrusted Demo CA/);
      const message = api.notifications.slice(shownBefore).find((m) => m.startsWith('Tunnel "demo-untrusted"'));
      assert.ok(message, `no diagnosis shown; shown: ${api.notifications.slice(shownBefore).join(' | ')}`);
      console.log(`      diagnosis: ${message}`);
      assert.match(message, /client certificate/);
      assert.doesNotMatch(message, /ECONNRESET|Error:/);
      await showView(api, 'demo-untrusted');
      await vscode.commands.executeCommand('notifications.showList');
      await new Promise((r) => setTimeout(r, 300));
      await screenshot('demo-diagnosis');
      await vscode.commands.executeCommand('notifications.hideList');
    });
  });

  it('stops the server, and starts it again on the same port', async function () {
    this.timeout(30_000);
    await extensionApi();
    const first = await vscode.commands.executeCommand<StartDemoResult>('mtlsTunnels.startDemo');
    const port = portOfAddress(first!.server);
    assert.equal(await tryConnect(port), 'connected');
    assert.equal(await vscode.commands.executeCommand('mtlsTunnels.stopDemo'), true);
    assert.equal(await tryConnect(port), 'ECONNREFUSED');
    const second = await vscode.commands.executeCommand<StartDemoResult>('mtlsTunnels.startDemo');
    assert.equal(second?.server, first!.server);
    assert.equal(await vscode.commands.executeCommand('mtlsTunnels.stopDemo'), true);
  });

  it('contributes a walkthrough whose every step has its page and a way to complete', async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID)!;
    const [walkthrough] = extension.packageJSON.contributes.walkthroughs as Array<{ id: string; steps: Array<{ id: string; media: { markdown: string }; completionEvents: string[] }> }>;
    assert.equal(walkthrough.id, 'mtlsTunnels.gettingStarted');
    assert.deepEqual(walkthrough.steps.map((s) => s.id), ['startDemo', 'addTunnel', 'startAndConnect', 'testConnection', 'readDiagnosis']);
    for (const step of walkthrough.steps) {
      assert.ok(fs.existsSync(path.join(extension.extensionPath, step.media.markdown)), `${step.media.markdown} is missing`);
      assert.ok(step.completionEvents.length > 0, `step ${step.id} never completes`);
    }
    // The id the demo's "Open Walkthrough" button uses.
    await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${EXTENSION_ID}#${walkthrough.id}`, false);
    await new Promise((r) => setTimeout(r, 1000));
    await screenshot('walkthrough');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });
});
