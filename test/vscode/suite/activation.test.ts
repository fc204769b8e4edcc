// Smoke test of the extension and of the harness itself: the extension under development is
// loaded from this repository, activates, and runs in the host the harness promised.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { screenshot } from './screenshot';

const EXTENSION_ID = 'mtls-tunnels.mtls-tunnels';
// Set by the code-server runner; absent when the suite runs in a desktop VS Code.
const onCodeServer = process.env.MTLS_TUNNELS_TEST_HOST === 'code-server';

describe('activation', () => {
  it('loads the extension under development', () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not among the loaded extensions`);
    assert.equal(extension.packageJSON.main, './dist/extension.js');
    // Node-only: it must run where the sockets and certificate files are.
    assert.equal(extension.extensionKind, vscode.ExtensionKind.Workspace);
  });

  it('activates', async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID)!;
    await extension.activate();
    assert.equal(extension.isActive, true);
  });

  it('opens the workspace prepared by runTests, with its settings', () => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.equal(folders.length, 1);
    assert.equal(folders[0].uri.fsPath, process.env.MTLS_TUNNELS_TEST_WORKSPACE);
    assert.equal(vscode.workspace.getConfiguration('workbench').get('startupEditor'), 'none');
  });

  it('runs in the extension host the harness promised', () => {
    if (onCodeServer) {
      // A VS Code server with a browser workbench: the UI is web, the extension host is remote.
      assert.equal(vscode.env.uiKind, vscode.UIKind.Web);
      assert.ok(vscode.env.remoteName, 'remoteName should be set in a VS Code server');
    } else {
      assert.equal(vscode.env.uiKind, vscode.UIKind.Desktop);
      assert.equal(vscode.env.remoteName, undefined);
    }
  });

  it('can capture the workbench when the runner supports it', async function () {
    if (!onCodeServer) this.skip();
    const file = await screenshot('activation');
    assert.ok(file && fs.statSync(file).size > 1000, `screenshot ${file} is missing or empty`);
  });
});
