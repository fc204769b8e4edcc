// The confirmation before Stop, as a user meets it: VS Code refuses modal dialogs while extension
// tests run, so this drives the workbench without a test suite (the runner's --ui-script), with
// Playwright's keyboard and mouse. A tunnel marked autoStart runs on a known port; a plain client
// holds a session open; "mTLS Tunnels: Stop Tunnel" from the command palette must ask, Cancel must
// keep the session echoing, and Stop must close it.
import * as assert from 'node:assert/strict';
import { probe, runCommand, Session, Ui, until } from './uiKit';

export async function run({ page, screenshot, log }: Ui): Promise<void> {
  const port = Number(process.env.MTLS_TUNNELS_UI_PORT);
  await until(async () => (await probe(port)) === 'connected', `the autoStart tunnel to listen on ${port}`);
  const session = await Session.open(port);
  try {
    assert.equal(await session.echo('before'), 'before');
    await page.locator('.monaco-workbench').waitFor();

    await runCommand(page, 'mTLS Tunnels: Stop Tunnel');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible' });
    const message = (await dialog.locator('.dialog-message-text').innerText()).trim();
    const buttons = (await dialog.locator('.dialog-buttons .monaco-button').allInnerTexts()).map((t) => t.trim());
    log(`dialog: ${message} [${buttons.join(' | ')}]`);
    assert.equal(message, '1 open connection on "ui" will be closed.');
    assert.deepEqual([...buttons].sort(), ['Cancel', 'Stop']);
    await screenshot('confirm-stop-dialog');
    await dialog.locator('.dialog-buttons .monaco-button', { hasText: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await session.echo('after cancel'), 'after cancel');

    await runCommand(page, 'mTLS Tunnels: Stop Tunnel');
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('.dialog-buttons .monaco-button', { hasText: /^Stop$/ }).click();
    await session.closed();
    assert.equal(await probe(port), 'ECONNREFUSED');
  } finally {
    session.socket.destroy();
  }
}
