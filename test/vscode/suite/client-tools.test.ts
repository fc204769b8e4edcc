// Client commands that work and a terminal that is ready: psql's user defaults to the client
// certificate's CN (certificate authentication logs in as it), the settings' user and database
// win, the picker preselects what fits the tunnel (nc for a plain echo service), Open Terminal sets
// the tunnel's variables and says so, and VS Code never auto-forwards the tunnels' or the demo
// server's ports.
import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { portOf, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';
import { screenshot } from './screenshot';

const IGNORE = 5; // vscode.PortAutoForwardAction.Ignore (typed by the project's older @types/vscode)

describe('client tools', () => {
  const backend = withBackend();

  it('copies psql with the certificate CN, or the settings\' user and database', async () => {
    const b = backend();
    const cn = /^CN=(.+)$/m.exec(new X509Certificate(fs.readFileSync(b.pki.client.cert)).subject)![1];
    await withTunnels([
      tunnelEntry(b, 'pg', { protocol: 'postgres' }),
      tunnelEntry(b, 'pg-app', { protocol: 'postgres', user: 'app', database: 'sales' }),
    ], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.start', 'pg');
      await vscode.commands.executeCommand('mtlsTunnels.start', 'pg-app');
      const psql = await vscode.commands.executeCommand<string>('mtlsTunnels.copyClientCommand', 'pg', 'psql');
      assert.equal(psql, `psql "host=127.0.0.1 port=${portOf(api, 'pg')} user=${cn} dbname=${cn} sslmode=disable"`);
      const app = await vscode.commands.executeCommand<string>('mtlsTunnels.copyClientCommand', 'pg-app', 'psql');
      assert.equal(app, `psql "host=127.0.0.1 port=${portOf(api, 'pg-app')} user=app dbname=sales sslmode=disable"`);
      const url = await vscode.commands.executeCommand<string>('mtlsTunnels.copyClientCommand', 'pg-app', 'DATABASE_URL');
      assert.equal(url, `DATABASE_URL=postgres://app@127.0.0.1:${portOf(api, 'pg-app')}/sales?sslmode=disable`);
    });
  });

  it('preselects nc for a plain echo service', async () => {
    await withTunnels([tunnelEntry(backend(), 'echo')], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.start', 'echo');
      const copied = vscode.commands.executeCommand<string>('mtlsTunnels.copyClientCommand', 'echo');
      let result: string | undefined;
      void copied.then((r) => (result = r));
      // Once the picker is open, accepting takes what it preselected (before that, accepting does nothing).
      await waitFor(async () => {
        await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
        return result;
      }, 'the picker to take its preselected item');
      assert.equal(result, `nc 127.0.0.1 ${portOf(api, 'echo')}`);
    });
  });

  it('opens a terminal with the tunnel\'s variables and says which', async function () {
    this.timeout(30_000);
    const b = backend();
    const cn = /^CN=(.+)$/m.exec(new X509Certificate(fs.readFileSync(b.pki.client.cert)).subject)![1];
    await withTunnels([tunnelEntry(b, 'db', { protocol: 'postgres', database: 'sales' })], async (api) => {
      // Not running yet: Open Terminal starts it, so the port in the variables is real.
      const terminal = await vscode.commands.executeCommand<vscode.Terminal>('mtlsTunnels.openTerminal', 'db');
      try {
        assert.ok(terminal, 'a terminal');
        const port = String(portOf(api, 'db'));
        const options = terminal.creationOptions as vscode.TerminalOptions;
        assert.deepEqual(options.env, {
          MTLS_TUNNEL_ADDR: `127.0.0.1:${port}`, PGHOST: '127.0.0.1', PGPORT: port, PGUSER: cn, PGDATABASE: 'sales', PGSSLMODE: 'disable',
          DATABASE_URL: `postgres://${cn}@127.0.0.1:${port}/sales?sslmode=disable`,
        });
        assert.equal(options.name, 'mTLS: db');
        assert.match(String(options.message), /^Tunnel "db" is on 127\.0\.0\.1:\d+\. This terminal has MTLS_TUNNEL_ADDR, PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE and DATABASE_URL set: run psql\.$/);
        await waitFor(() => vscode.window.activeTerminal === terminal || undefined, 'the terminal to be shown');
        await new Promise((r) => setTimeout(r, 500));
        await screenshot('open-terminal');
      } finally {
        terminal?.dispose();
      }
    });
  });

  it('keeps the tunnels\' and the demo server\'s ports from being forwarded', async function () {
    this.timeout(30_000);
    await withTunnels([tunnelEntry(backend(), 'fwd')], async (api) => {
      assert.equal(api.ports.registered, true, 'the host has registerPortAttributesProvider');
      await vscode.commands.executeCommand('mtlsTunnels.start', 'fwd');
      const port = portOf(api, 'fwd');
      assert.equal(api.ports.attributesOf(port)?.autoForwardAction, IGNORE);
      assert.equal(api.ports.attributesOf(backend().server.port), undefined, 'a port that is not ours is left to VS Code');
      const demo = await vscode.commands.executeCommand<{ server: string }>('mtlsTunnels.startDemo');
      try {
        const demoPort = Number(demo.server.split(':').pop());
        assert.equal(api.ports.attributesOf(demoPort)?.autoForwardAction, IGNORE);
      } finally {
        await vscode.commands.executeCommand('mtlsTunnels.stopDemo');
      }
      await vscode.commands.executeCommand('~remote.forwardedPorts.focus').then(undefined, () => undefined);
      await new Promise((r) => setTimeout(r, 300));
      await screenshot('ports-view');
      // In a remote window (this test host is one), said once: where the port is and how to forward it.
      if (vscode.env.remoteName) {
        const said = await waitFor(() => {
          const m = api.notifications.filter((n) => /on the remote machine/.test(n));
          return m.length ? m : undefined;
        }, 'the remote port message');
        assert.equal(said.length, 1);
        assert.match(said[0], /forward port \d+ in the Ports view\.$/);
      }
    });
  });
});
