// package.json and the code agree: every contributed command is registered, every registered
// one is contributed, and the settings schema is strict.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { EXTENSION_ID, extensionApi } from './fixture';

describe('the manifest', () => {
  it('contributes exactly the commands the extension registers', async () => {
    await extensionApi();
    const contributed = (vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON.contributes.commands as Array<{ command: string }>)
      .map((c) => c.command).sort();
    const registered = (await vscode.commands.getCommands(true)).filter((c) => c.startsWith('mtlsTunnels.') && !c.startsWith('mtlsTunnels.tunnels.')).sort();
    assert.deepEqual(registered, contributed);
  });

  it('activates cheaply', async () => {
    const api = await extensionApi();
    console.log(`      activate() took ${api.activationMs} ms`);
    assert.ok(api.activationMs < 250, `activate() took ${api.activationMs} ms`);
  });

  it('declares a strict, resource-scoped tunnels setting', () => {
    const json = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON;
    const setting = json.contributes.configuration.properties['mtlsTunnels.tunnels'];
    assert.equal(setting.scope, 'resource');
    assert.equal(setting.items.additionalProperties, false);
    assert.equal(setting.items.properties.verify.additionalProperties, false);
    for (const field of ['name', 'listen', 'target', 'protocol', 'cert', 'key', 'pfx', 'ca', 'serverName', 'verify', 'alpn', 'minTlsVersion', 'connectTimeoutMs', 'idleTimeoutMs', 'maxConnections', 'autoStart']) {
      assert.ok(setting.items.properties[field]?.markdownDescription, `${field} has no markdownDescription`);
    }
    assert.deepEqual(json.capabilities.untrustedWorkspaces.restrictedConfigurations, ['mtlsTunnels.tunnels']);
  });
});
