// Notifications that say one thing and offer the fix: a client certificate the server does not
// trust is explained without CLI advice or code spans, with Inspect Certificates as a button; a
// connection that fails through a running tunnel is a background failure, shown once with Edit
// "cert" while it is up.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { portOf, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

/** A local client whose connection the tunnel accepts and the server then refuses: resolves when it closes. */
function connectAndWaitForClose(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('hello\n'));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

describe('notification buttons', () => {
  const backend = withBackend();

  it('offer Inspect Certificates for a test, and Edit "cert" once for failing connections', async function () {
    this.timeout(60_000);
    const b = backend();
    await withTunnels([tunnelEntry(b, 'rogue', { cert: b.pki.rogueClient.cert, key: b.pki.rogueClient.key })], async (api) => {
      await vscode.commands.executeCommand('notifications.clearAll');
      let before = api.notifications.length;
      await vscode.commands.executeCommand('mtlsTunnels.testConnection', 'rogue');
      let index = await waitFor(() => {
        const i = api.notifications.findIndex((m, n) => n >= before && m.startsWith('Tunnel "rogue"'));
        return i >= 0 ? i + 1 : undefined;
      }, 'the connection test notification') - 1;
      assert.doesNotMatch(api.notifications[index], /`|mtls-tunnels/);
      assert.deepEqual(api.notifier.buttons[index], ['Show Report', 'Inspect Certificates', 'Show Log'], api.notifications[index]);

      // Connections through the running tunnel fail: nobody ran a command, so it is a background failure.
      await vscode.commands.executeCommand('mtlsTunnels.start', 'rogue');
      before = api.notifications.length;
      await connectAndWaitForClose(portOf(api, 'rogue'));
      index = await waitFor(() => {
        const i = api.notifications.findIndex((m, n) => n >= before && m.startsWith('Tunnel "rogue"'));
        return i >= 0 ? i + 1 : undefined;
      }, 'the background notification') - 1;
      assert.deepEqual(api.notifier.buttons[index], ['Edit "cert"', 'Inspect Certificates', 'Show Log']);
      // The same cause again while that notification is up: no second one.
      const failed = () => Object.values(api.manager.entry('rogue')?.snapshot?.handshakesFailed ?? {}).reduce((n, x) => n + (x ?? 0), 0);
      const failedBefore = failed();
      await connectAndWaitForClose(portOf(api, 'rogue'));
      await waitFor(() => failed() > failedBefore || undefined, 'the second failure to be counted');
      assert.equal(api.notifications.slice(before).filter((m) => m.startsWith('Tunnel "rogue"')).length, 1);
    });
  });
});
