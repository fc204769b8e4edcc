// A multi-root workspace (two folders in a .code-workspace file): tunnels come from each folder's
// settings and from the workspace file, `${workspaceFolder}` resolves per folder, and the tree
// groups tunnels by folder.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { TunnelItem } from '../../../src/vscode/tunnelTree';
import { EchoClient, extensionApi, portOf, tunnelEntry, waitFor, withBackend } from '../suite/fixture';

const { Workspace, WorkspaceFolder } = vscode.ConfigurationTarget;

describe('multi-root workspace', () => {
  const backend = withBackend();

  it('reads each folder and the workspace file, resolves ${workspaceFolder} per folder, groups the tree by folder', async () => {
    const api = await extensionApi();
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.deepEqual(folders.map((f) => f.name), ['alpha', 'beta'], 'the test opens a workspace with folders alpha and beta');
    assert.ok(vscode.workspace.workspaceFile?.fsPath.endsWith('.code-workspace'));
    const b = backend();

    // Each folder holds its own copy of the identity; its settings name it relative to the folder.
    for (const f of folders) {
      const pki = path.join(f.uri.fsPath, 'pki');
      await fs.mkdir(pki, { recursive: true });
      await fs.copyFile(b.pki.client.cert, path.join(pki, 'client.crt'));
      await fs.copyFile(b.pki.client.key, path.join(pki, 'client.key'));
      await fs.copyFile(b.pki.ca, path.join(pki, 'ca.crt'));
    }
    const relative = { cert: '${workspaceFolder}/pki/client.crt', key: '${workspaceFolder}/pki/client.key', ca: '${workspaceFolder}/pki/ca.crt' };
    const [alpha, beta] = folders;
    const config = (f?: vscode.WorkspaceFolder) => vscode.workspace.getConfiguration('mtlsTunnels', f?.uri);
    try {
      await config(alpha).update('tunnels', [tunnelEntry(b, 'alpha-echo', relative)], WorkspaceFolder);
      await config(beta).update('tunnels', [tunnelEntry(b, 'beta-echo', relative)], WorkspaceFolder);
      await config().update('tunnels', [tunnelEntry(b, 'shared-echo')], Workspace);
      await waitFor(() => api.manager.names().sort().join() === 'alpha-echo,beta-echo,shared-echo', 'tunnels from both folders and the workspace file');

      // ${workspaceFolder} is the folder the entry came from.
      assert.equal(api.manager.entry('alpha-echo')?.config.cert, path.join(alpha.uri.fsPath, 'pki/client.crt'));
      assert.equal(api.manager.entry('beta-echo')?.config.cert, path.join(beta.uri.fsPath, 'pki/client.crt'));

      // The tree: one group per source, the workspace file's entries first.
      const roots = api.tree.getChildren();
      // (The extension's classes are not this bundle's, so items are told apart by contextValue.)
      assert.deepEqual(roots.map((r) => r.contextValue), ['folder', 'folder', 'folder'], 'several folders: the roots are folder groups');
      assert.deepEqual(roots.map((r) => r.label), ['Workspace', 'alpha', 'beta']);
      const names = roots.map((r) => api.tree.getChildren(r).map((t) => (t as TunnelItem).tunnelName));
      assert.deepEqual(names, [['shared-echo'], ['alpha-echo'], ['beta-echo']]);

      // Started from the tree item each one carries bytes with its own folder's files.
      for (const [group, name] of [[1, 'alpha-echo'], [2, 'beta-echo']] as const) {
        const item = api.tree.getChildren(roots[group])[0];
        await vscode.commands.executeCommand('mtlsTunnels.start', item);
        const client = await EchoClient.connect(portOf(api, name));
        try {
          assert.equal(await client.echo(`through ${name}`), `through ${name}`);
        } finally {
          client.close();
        }
      }

      // A name used in two folders: the second is left out with a message naming both places.
      const seen = api.notifications.length;
      await config(beta).update('tunnels', [tunnelEntry(b, 'beta-echo', relative), tunnelEntry(b, 'alpha-echo', relative)], WorkspaceFolder);
      const message = await waitFor(() => api.notifications.slice(seen).find((m) => m.includes('alpha-echo') && m.includes('also defined')), 'a duplicate-name message');
      assert.match(message, /folder alpha/);
      assert.match(message, /folder beta/);
      assert.equal(api.manager.entry('alpha-echo')?.config.folder, alpha.uri.fsPath, 'the first definition is kept');
      assert.equal(api.manager.entry('beta-echo')?.state, 'running', 'an untouched tunnel keeps running');
    } finally {
      // The manager, not the command: cleanup must not wait on the "connections will be closed" question.
      await api.manager.stopAll();
      await config(alpha).update('tunnels', undefined, WorkspaceFolder);
      await config(beta).update('tunnels', undefined, WorkspaceFolder);
      await config().update('tunnels', undefined, Workspace);
    }
  });
});
