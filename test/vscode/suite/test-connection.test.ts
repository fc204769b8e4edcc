// "Test Connection" runs the handshake doctor against the target and returns its report; a
// target that refuses says so in one sentence.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { CertificateItem } from '../../../src/vscode/tunnelTree';
import { tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

describe('Test Connection', () => {
  const backend = withBackend();

  it('reports a working tunnel, and the tree then shows the server certificate', async () => {
    await withTunnels([tunnelEntry(backend(), 'checked')], async (api) => {
      const text = await vscode.commands.executeCommand<string>('mtlsTunnels.testConnection', 'checked');
      assert.ok(text, 'the command returned no report');
      assert.match(text, /^Tunnel "checked" → 127\.0\.0\.1:\d+ \(tls, server name localhost\)/);
      assert.match(text, /Client certificate: required by server/);
      assert.match(text, /Verdict: OK, the tunnel would work\./);
      assert.ok(api.notifications.some((m) => m.startsWith('Tunnel "checked" would work')));

      const item = api.tree.tunnelItem('checked')!;
      const server = await waitFor(
        () => api.tree.getChildren(item).find((c) => c.contextValue === 'certificate:server') as CertificateItem | undefined,
        'the server certificate item',
      );
      assert.equal(server.label, 'localhost');
      assert.match(String(server.description), /^server · \d+ days left · from the last connection test$/);
    });
  });

  it('says in one sentence that nothing listens at the target', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    await withTunnels([tunnelEntry(backend(), 'nowhere', { target: `127.0.0.1:${closed}` })], async (api) => {
      const before = api.notifications.length;
      const text = await vscode.commands.executeCommand<string>('mtlsTunnels.testConnection', 'nowhere');
      assert.match(text, /Verdict: FAILED/);
      const message = api.notifications.slice(before).find((m) => m.startsWith('Tunnel "nowhere"'));
      assert.ok(message, `no notification among ${JSON.stringify(api.notifications.slice(before))}`);
      assert.match(message, /refused/i);
      assert.doesNotMatch(message, /\n\s+at /);
    });
  });
});
