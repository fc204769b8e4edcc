// A PKCS#12 identity: its passphrase comes from `${env:…}` or from a password box (then secret
// storage), never from settings; a wrong or missing one is explained, not thrown.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'mocha';
import * as vscode from 'vscode';
import { writePkcs12 } from '../../../src/core/pki/testPki';
import { DemoServer, startDemoServer } from '../../../src/demo/demoServer';
import { EchoClient, noConnections, portOf, waitFor, withBackend, withTunnels } from './fixture';

const PASSPHRASE_VARIABLE = 'MTLS_TUNNELS_TEST_P12_PASSPHRASE';

/** Whether `promise` is still pending: a settled one wins the race against the next macrotask. */
async function pending(promise: Thenable<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const later = new Promise<symbol>((resolve) => setImmediate(() => resolve(marker)));
  const first = await Promise.race([Promise.resolve(promise).then(() => undefined, () => undefined), later]);
  return first === marker;
}

/**
 * The start waits for a password box. No API tells an extension that its box is showing, so this
 * is a pause that proves nothing happened: after `ms`, the start is still pending and the tunnel
 * still stopped.
 */
async function stillAsking(api: { manager: { entry(name: string): { state: string } | undefined } }, name: string, started: Thenable<unknown>, ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  assert.ok(await pending(started), 'the start should wait for the passphrase');
  assert.equal(api.manager.entry(name)?.state, 'stopped', 'the tunnel should wait for the passphrase');
}

describe('a PKCS#12 identity', () => {
  const backend = withBackend();
  let rsaServer: DemoServer;
  let pfx: string;

  before(async () => {
    const { pki } = backend();
    // node-forge writes RSA bundles only: an RSA client, and a server trusting the RSA CA.
    rsaServer = await startDemoServer({ server: pki.rsaServer, ca: pki.rsaCa });
    // In the backend's PKI folder, which goes with it.
    pfx = await writePkcs12(path.join(pki.dir, 'client.p12'), pki.rsaClient, 'correct horse');
  });
  after(async () => {
    delete process.env[PASSPHRASE_VARIABLE];
    await rsaServer?.close();
  });

  const entry = (name: string, extra: Record<string, unknown> = {}) => ({
    name, listen: 0, target: `127.0.0.1:${rsaServer.port}`, serverName: 'localhost', pfx, ca: backend().pki.rsaCa, ...extra,
  });

  it('opens with the passphrase from the environment, and the tree reads its certificate', async () => {
    process.env[PASSPHRASE_VARIABLE] = 'correct horse';
    await withTunnels([entry('p12', { passphrase: `\${env:${PASSPHRASE_VARIABLE}}` })], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.start', 'p12');
      const client = await EchoClient.connect(portOf(api, 'p12'));
      try {
        assert.equal(await client.echo('pkcs12'), 'pkcs12');
      } finally {
        client.close();
      }
      const item = api.tree.tunnelItem('p12')!;
      const certificate = await waitFor(() => api.tree.getChildren(item).find((c) => c.contextValue === 'certificate:client'), 'the client certificate item');
      assert.equal(certificate.label, 'alice');
    });
  });

  it('explains a wrong passphrase', async () => {
    process.env[PASSPHRASE_VARIABLE] = 'wrong';
    await withTunnels([entry('p12-wrong', { passphrase: `\${env:${PASSPHRASE_VARIABLE}}` })], async (api) => {
      const before = api.notifications.length;
      await vscode.commands.executeCommand('mtlsTunnels.start', 'p12-wrong');
      assert.equal(api.manager.entry('p12-wrong')?.state, 'error');
      const message = api.notifications.slice(before).find((m) => m.startsWith('Tunnel "p12-wrong"'));
      assert.match(message ?? '', /the passphrase for .*client\.p12 is wrong\./);
    });
  });

  it('asks once in a password box, keeps the answer in secret storage, and forgets it on request', async function () {
    if (process.env.MTLS_TUNNELS_TEST_HOST !== 'code-server') this.skip(); // typing needs the runner's keyboard
    await withTunnels([entry('p12-typed')], async (api) => {
      const started = vscode.commands.executeCommand('mtlsTunnels.start', 'p12-typed');
      // The runner types into whatever has focus: the box must be drawn first (a second is ample).
      await stillAsking(api, 'p12-typed', started, 1000);
      console.log('__TYPE__ correct horse'); // the code-server runner types it into the password box
      await started;
      await waitFor(() => api.manager.entry('p12-typed')?.state === 'running', 'the tunnel to run with the typed passphrase');
      const client = await EchoClient.connect(portOf(api, 'p12-typed'));
      try {
        assert.equal(await client.echo('typed once'), 'typed once');
      } finally {
        client.close();
      }
      // Restarted, it opens from secret storage without asking: a box would leave it waiting.
      await noConnections(api, 'p12-typed');
      await vscode.commands.executeCommand('mtlsTunnels.stop', 'p12-typed');
      await vscode.commands.executeCommand('mtlsTunnels.start', 'p12-typed');
      assert.equal(api.manager.entry('p12-typed')?.state, 'running', 'no second question');
      assert.equal(await vscode.commands.executeCommand('mtlsTunnels.forgetPassphrases', 'p12-typed'), 1);
      assert.equal(await vscode.commands.executeCommand('mtlsTunnels.forgetPassphrases'), 0, 'nothing else was stored');
    });
  });

  it('asks for the passphrase when none is configured, and explains when the box is dismissed', async () => {
    await withTunnels([entry('p12-ask')], async (api) => {
      const before = api.notifications.length;
      const started = vscode.commands.executeCommand('mtlsTunnels.start', 'p12-ask');
      await stillAsking(api, 'p12-ask', started, 300);
      // Escape, until the start gives up: the box may not be drawn yet on the first try.
      await waitFor(async () => {
        await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
        return !(await pending(started));
      }, 'the start to give up once the box is dismissed');
      await started;
      assert.equal(api.manager.entry('p12-ask')?.state, 'error');
      const message = api.notifications.slice(before).find((m) => m.startsWith('Tunnel "p12-ask"'));
      assert.match(message ?? '', /is protected by a passphrase and none was given\./);
      assert.equal(await vscode.commands.executeCommand('mtlsTunnels.forgetPassphrases'), 0);
    });
  });
});
