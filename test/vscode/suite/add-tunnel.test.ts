// "Add Tunnel…" writes one valid entry into the workspace settings, with portable paths and a
// free local port; answers passed in are not asked. For PostgreSQL it offers a unix socket in a
// folder only the user can use (~/.mtls-tunnels/NAME/.s.PGSQL.5432), which psql finds by folder.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { extensionApi, setTunnels, waitFor, withBackend } from './fixture';

describe('Add Tunnel', () => {
  const backend = withBackend();

  it('writes a valid entry on a free port into the workspace settings', async () => {
    const api = await extensionApi();
    const config = () => vscode.workspace.getConfiguration('mtlsTunnels');
    const previous = config().inspect('tunnels')?.workspaceValue;
    try {
      const { pki, server } = backend();
      const name = await vscode.commands.executeCommand('mtlsTunnels.addTunnel', {
        name: 'added', protocol: 'tls', target: `localhost:${server.port}`, cert: pki.client.cert, key: pki.client.key, ca: pki.ca, listen: 'free',
      });
      assert.equal(name, 'added');
      const written = config().inspect<Array<Record<string, unknown>>>('tunnels')?.workspaceValue;
      assert.equal(written?.length, 1);
      const entry = written![0];
      assert.deepEqual(Object.keys(entry), ['name', 'listen', 'target', 'protocol', 'cert', 'key', 'ca']);
      assert.equal(typeof entry.listen, 'number');
      assert.ok(await isFree(entry.listen as number), `port ${entry.listen} is not free`);

      await waitFor(() => api.manager.entry('added'), 'the manager to pick up the new tunnel');
      const address = await vscode.commands.executeCommand<string>('mtlsTunnels.start', 'added');
      assert.equal(address, `127.0.0.1:${entry.listen}`);
    } finally {
      await api.manager.stopAll();
      await setTunnels(previous);
    }
  });
});

describe('Add Tunnel for PostgreSQL', () => {
  const backend = withBackend();

  it('offers a unix socket in a folder only you can use, and psql is pointed at that folder', async function () {
    if (process.platform === 'win32') this.skip();
    this.timeout(30_000);
    const api = await extensionApi();
    const config = () => vscode.workspace.getConfiguration('mtlsTunnels');
    const previous = config().inspect('tunnels')?.workspaceValue;
    const folder = path.join(os.homedir(), '.mtls-tunnels', 'pg-socket');
    await fs.rm(folder, { recursive: true, force: true });
    try {
      const { pki, server } = backend();
      const draft = { name: 'pg-socket', protocol: 'postgres', target: `localhost:${server.port}`, cert: pki.client.cert, key: pki.client.key, ca: pki.ca };
      // The last step asks where tools connect: a port first, the socket offered beside it.
      const flow = vscode.commands.executeCommand<string | undefined>('mtlsTunnels.addTunnel', draft);
      const shown = await waitFor(() => {
        const s = api.quickStep();
        return s?.title === 'Add Tunnel (6/6)' && s.items.length === 2 ? s : undefined;
      }, 'the listen step');
      assert.equal(shown.placeholder, 'Where do your tools connect?');
      assert.match(shown.items[0], /^\$\(plug\) A local port \(127\.0\.0\.1:\d+\)$/);
      assert.equal(shown.items[1], '$(lock) A unix socket in a folder only you can use');
      await vscode.commands.executeCommand('workbench.action.quickOpenSelectNext');
      await waitFor(() => api.quickStep()?.active === shown.items[1], 'the socket to be highlighted');
      await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      assert.equal(await flow, 'pg-socket');

      const [entry] = config().inspect<Array<Record<string, unknown>>>('tunnels')!.workspaceValue!;
      assert.equal(entry.listen, 'unix:${userHome}/.mtls-tunnels/pg-socket/.s.PGSQL.5432');
      assert.equal((await fs.stat(folder)).mode & 0o777, 0o700, 'the folder is only yours');

      await waitFor(() => api.manager.entry('pg-socket'), 'the manager to pick up the new tunnel');
      await vscode.commands.executeCommand('mtlsTunnels.start', 'pg-socket');
      const socket = path.join(folder, '.s.PGSQL.5432');
      assert.equal((await fs.stat(socket)).mode & 0o777, 0o600);
      const psql = await vscode.commands.executeCommand<string>('mtlsTunnels.copyClientCommand', 'pg-socket', 'psql');
      assert.match(psql, new RegExp(`host=${folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} port=5432 `));
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
      await api.manager.stopAll();
      await setTunnels(previous);
      await fs.rm(folder, { recursive: true, force: true });
      await fs.rmdir(path.dirname(folder)).catch(() => undefined);
    }
  });
});

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
