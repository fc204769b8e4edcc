// "Add Tunnel…" as a user walks it, keys typed by the runner (its __TYPE__ line) into VS Code's
// real quick input: every step carries "(n/6)" and, after the first, a Back button; the protocol
// is guessed from the target's port; the file steps are picks that list the likely files (the
// key beside the certificate) and take a typed path, then an optional command that renews the
// certificate; Back from the key returns to the
// certificate; the flow ends offering "Test Connection now". The TestApi says which step is on
// screen (quickSteps.ts), and screenshots show what the user sees.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { TestApi } from '../../../src/extension';
import type { ShownStep } from '../../../src/vscode/quickSteps';
import { createThrowawayPki } from '../../../src/core/pki/testPki';
import { startDemoServer } from '../../../src/demo/demoServer';
import { extensionApi, setTunnels, waitFor } from './fixture';
import { screenshot } from './screenshot';

const onCodeServer = process.env.MTLS_TUNNELS_TEST_HOST === 'code-server';

function step(api: TestApi, title: string, ok: (s: ShownStep) => boolean = () => true): Promise<ShownStep> {
  return waitFor(() => {
    const s = api.quickStep();
    return s && s.title === title && ok(s) ? s : undefined;
  }, `the step "${title}" (on screen: ${JSON.stringify(api.quickStep())})`);
}

/** The runner types into the focused quick input and presses Enter. */
const type = (text: string) => console.log(`__TYPE__ ${text}`);
const accept = () => vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
const back = () => vscode.commands.executeCommand('workbench.action.quickInputBack');

/** A picture of the step on screen, once the quick input has faded in. */
async function picture(name: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  await screenshot(name);
}

/** Types a path into a file step; Enter may land before the typed path is offered, so accept it once it is. */
async function typePath(api: TestApi, title: string, file: string, placeholder: RegExp): Promise<void> {
  type(file);
  const offered = await waitFor(() => {
    const s = api.quickStep();
    if (!s || s.title !== title || !placeholder.test(s.placeholder ?? '')) return 'moved on';
    return s.active?.includes(file) ? 'offered' : undefined;
  }, `the typed path ${file} to be offered`);
  if (offered === 'offered') await accept();
}

describe('Add Tunnel, step by step', () => {
  it('counts and goes back on every step, guesses the protocol, finds the key beside the certificate', async function () {
    if (!onCodeServer) this.skip(); // typing needs the runner's keyboard
    this.timeout(90_000);
    const api = await extensionApi();
    const workspace = process.env.MTLS_TUNNELS_TEST_WORKSPACE!;
    const certs = path.join(workspace, 'certs');
    const pki = await createThrowawayPki(certs);
    const server = await startDemoServer(pki);
    const previous = vscode.workspace.getConfiguration('mtlsTunnels').inspect('tunnels')?.workspaceValue;
    const shownBefore = api.notifications.length;
    try {
      await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
      const flow = vscode.commands.executeCommand<string | undefined>('mtlsTunnels.addTunnel');

      const name = await step(api, 'Add Tunnel (1/6)');
      assert.equal(name.back, false, 'nothing to go back to on the first step');
      await picture('add-tunnel-1-name');
      type('stepped');

      assert.equal((await step(api, 'Add Tunnel (2/6)')).back, true);
      type('db.internal:5432');
      const protocol = await step(api, 'Add Tunnel (3/6)', (s) => s.active !== undefined);
      assert.equal(protocol.active, 'postgres', 'port 5432 guesses postgres');
      await picture('add-tunnel-3-protocol-guessed');

      // Back to the target: the answer is kept, and a new one changes the guess.
      await back();
      const target = await step(api, 'Add Tunnel (2/6)');
      assert.equal(target.value, 'db.internal:5432');
      type(`127.0.0.1:${server.port}`);
      assert.equal((await step(api, 'Add Tunnel (3/6)', (s) => s.active !== undefined)).active, 'tls');
      await accept();

      const identity = await step(api, 'Add Tunnel (4/6)', (s) => s.placeholder === 'Your client identity');
      assert.equal(identity.back, true);
      await accept(); // certificate and key (PEM)

      // The certificates in the workspace, the client's first, then Browse…; a typed path works too.
      const certStep = await step(api, 'Add Tunnel (4/6)', (s) => /client certificate/.test(s.placeholder ?? '') && !!s.active);
      assert.equal(certStep.active, '$(file) client.crt');
      assert.ok(certStep.back && certStep.items.includes('$(folder-opened) Browse…'), `items: ${certStep.items.join(', ')}`);
      await picture('add-tunnel-4-certificate');
      await typePath(api, 'Add Tunnel (4/6)', pki.client.cert, /client certificate/);

      // The key step lists the certificate's folder, the key with its name first.
      const keyStep = await step(api, 'Add Tunnel (4/6)', (s) => /private key of client\.crt/.test(s.placeholder ?? '') && !!s.active);
      assert.equal(keyStep.active, '$(file) client.key');
      assert.ok(keyStep.back);
      await picture('add-tunnel-4-key-beside-certificate');
      await back();
      await step(api, 'Add Tunnel (4/6)', (s) => /client certificate/.test(s.placeholder ?? ''));
      await typePath(api, 'Add Tunnel (4/6)', pki.client.cert, /client certificate/);
      await step(api, 'Add Tunnel (4/6)', (s) => s.active === '$(file) client.key');
      await accept();
      // The optional command that renews the certificate (empty: none).
      const renewal = await step(api, 'Add Tunnel (4/6)', (s) => /step ca certificate/.test(s.placeholder ?? ''));
      assert.equal(renewal.back, true);
      type('./renew-cert.sh');

      const ca = await step(api, 'Add Tunnel (5/6)', (s) => !!s.active);
      assert.equal(ca.active, '$(file) Choose a CA bundle…');
      await accept();
      const caFile = await step(api, 'Add Tunnel (5/6)', (s) => /CA bundle/.test(s.placeholder ?? '') && !!s.active);
      assert.equal(caFile.active, '$(file) ca.crt', 'the CA beside the certificate is offered first');
      await accept();

      const port = await step(api, 'Add Tunnel (6/6)');
      assert.match(port.value, /^\d+$/);
      assert.equal(port.back, true);
      await picture('add-tunnel-6-port');
      await accept();

      assert.equal(await flow, 'stepped');
      const [entry] = vscode.workspace.getConfiguration('mtlsTunnels').inspect<Array<Record<string, unknown>>>('tunnels')!.workspaceValue!;
      assert.deepEqual(entry, {
        name: 'stepped', listen: Number(port.value), target: `127.0.0.1:${server.port}`, protocol: 'tls',
        cert: '${workspaceFolder}/certs/client.crt', key: '${workspaceFolder}/certs/client.key', ca: '${workspaceFolder}/certs/ca.crt',
        identityCommand: './renew-cert.sh',
      });
      const done = api.notifications.slice(shownBefore).find((m) => m.startsWith('Tunnel "stepped" added'));
      assert.equal(done, 'Tunnel "stepped" added to the settings. Test the connection now, before you need it?');
      await vscode.commands.executeCommand('notifications.showList');
      await new Promise((r) => setTimeout(r, 300)); // let the list paint before the picture
      await screenshot('add-tunnel-done-offers-test');
      await vscode.commands.executeCommand('notifications.hideList');
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
      await vscode.commands.executeCommand('notifications.clearAll');
      await api.manager.stopAll();
      await setTunnels(previous);
      await server.close();
      await fs.rm(certs, { recursive: true, force: true });
    }
  });
  it('takes a certificate file that holds its key (a combined PEM) without asking for a key', async function () {
    if (!onCodeServer) this.skip(); // typing needs the runner's keyboard
    this.timeout(60_000);
    const api = await extensionApi();
    const workspace = process.env.MTLS_TUNNELS_TEST_WORKSPACE!;
    const certs = path.join(workspace, 'combined-certs');
    const pki = await createThrowawayPki(certs);
    const combined = path.join(certs, 'me.pem');
    await fs.writeFile(combined, `${await fs.readFile(pki.client.cert, 'utf8')}${await fs.readFile(pki.client.key, 'utf8')}`);
    const previous = vscode.workspace.getConfiguration('mtlsTunnels').inspect('tunnels')?.workspaceValue;
    try {
      const flow = vscode.commands.executeCommand<string | undefined>('mtlsTunnels.addTunnel');
      await step(api, 'Add Tunnel (1/6)');
      type('combined');
      await step(api, 'Add Tunnel (2/6)');
      type('127.0.0.1:8443');
      await step(api, 'Add Tunnel (3/6)', (s) => s.active !== undefined);
      await accept();
      await step(api, 'Add Tunnel (4/6)', (s) => s.placeholder === 'Your client identity');
      await accept(); // certificate and key (PEM)
      await step(api, 'Add Tunnel (4/6)', (s) => /client certificate/.test(s.placeholder ?? '') && !!s.active);
      await typePath(api, 'Add Tunnel (4/6)', combined, /client certificate/);
      // Straight to the optional renewal command: the key is in the file.
      const next = await step(api, 'Add Tunnel (4/6)', (s) => !/client certificate/.test(s.placeholder ?? ''));
      assert.match(next.placeholder ?? '', /step ca certificate/, `no key step for a combined PEM (on screen: ${next.placeholder})`);
      type('');
      await step(api, 'Add Tunnel (5/6)', (s) => !!s.active);
      await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
      assert.equal(await flow, undefined);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
      await setTunnels(previous);
      await fs.rm(certs, { recursive: true, force: true });
    }
  });
});
