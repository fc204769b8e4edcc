// The clipboard commands hand over what a local tool needs, and "Inspect Certificates" opens a
// read-only report of the tunnel's files.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { portOf, tunnelEntry, withBackend, withTunnels } from './fixture';

describe('copy and inspect commands', () => {
  const backend = withBackend();

  it('copies the address and a ready client command of a running tunnel', async () => {
    await withTunnels([tunnelEntry(backend(), 'pg', { protocol: 'postgres' }), tunnelEntry(backend(), 'web')], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.startAll');
      const pg = portOf(api, 'pg');
      assert.equal(await vscode.commands.executeCommand('mtlsTunnels.copyAddress', 'pg'), `127.0.0.1:${pg}`);
      const psql = await vscode.commands.executeCommand<string>('mtlsTunnels.copyClientCommand', 'pg', 'psql');
      assert.match(psql, new RegExp(`^psql "host=127\\.0\\.0\\.1 port=${pg} user=\\S+ dbname=\\S+ sslmode=disable"$`));
      const url = await vscode.commands.executeCommand<string>('mtlsTunnels.copyClientCommand', 'pg', 'DATABASE_URL');
      assert.match(url, new RegExp(`^DATABASE_URL=postgres://\\S+@127\\.0\\.0\\.1:${pg}/\\S+\\?sslmode=disable$`));
      const curl = await vscode.commands.executeCommand<string>('mtlsTunnels.copyClientCommand', api.tree.tunnelItem('web'), 'curl');
      assert.equal(curl, `curl http://127.0.0.1:${portOf(api, 'web')}/`);
      assert.equal(await vscode.commands.executeCommand('mtlsTunnels.copyClientCommand', 'web', 'redis-cli'), `redis-cli -h 127.0.0.1 -p ${portOf(api, 'web')}`);
    });
  });

  it('opens the certificate report of a tunnel as a read-only document', async () => {
    await withTunnels([tunnelEntry(backend(), 'inspected')], async () => {
      const text = await vscode.commands.executeCommand<string>('mtlsTunnels.inspectCertificates', 'inspected');
      assert.match(text, /^Certificates of tunnel "inspected"/);
      assert.match(text, /CN=alice/);
      assert.match(text, /Matches:\s+certificate 1 of .*client\.crt/);
      const editor = vscode.window.activeTextEditor;
      assert.equal(editor?.document.uri.scheme, 'mtls-tunnels');
      assert.equal(editor?.document.getText(), text);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    });
  });
});
