// "Allow for this workspace…" as a user meets it: the workspace's settings set
// "allowOtherUsers": true on an autoStart tunnel, so it is held and says so in a notification;
// its button opens VS Code's real modal naming what would be exposed (extension tests cannot show
// modals, so this drives the workbench with Playwright). Cancel leaves it held; Allow starts it.
import * as assert from 'node:assert/strict';
import { probe, runCommand, Ui, until } from './uiKit';

const BUTTON = 'Allow for this workspace…';

export async function run({ page, screenshot, log }: Ui): Promise<void> {
  const port = Number(process.env.MTLS_TUNNELS_UI_PORT);
  await page.locator('.monaco-workbench').waitFor();
  // The notification may have left the screen as a toast by now: open the list, as a user would.
  await until(async () => {
    await runCommand(page, 'Notifications: Show Notifications');
    return page.locator('.notifications-center .notification-list-item', { hasText: 'waits for your permission' }).isVisible();
  }, 'the held tunnel\'s notification');
  const toast = page.locator('.notifications-center .notification-list-item', { hasText: 'waits for your permission' });
  assert.equal(await probe(port), 'ECONNREFUSED', 'held: nothing listens');

  const dialog = page.locator('.monaco-dialog-box');
  await toast.locator('.monaco-button', { hasText: BUTTON }).click();
  await dialog.waitFor({ state: 'visible' });
  const message = (await dialog.locator('.dialog-message-text').innerText()).trim();
  const detail = (await dialog.locator('.dialog-message-detail').innerText()).trim();
  const buttons = (await dialog.locator('.dialog-buttons .monaco-button').allInnerTexts()).map((t) => t.trim());
  log(`dialog: ${message} / ${detail} [${buttons.join(' | ')}]`);
  assert.equal(message, '"shared" would accept connections from other users on this machine, presenting your client certificate.');
  assert.match(detail, /workspace settings set "allowOtherUsers": true/);
  assert.deepEqual([...buttons].sort(), ['Allow', 'Cancel']);
  await screenshot('allow-workspace-dialog');
  await dialog.locator('.dialog-buttons .monaco-button', { hasText: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await probe(port), 'ECONNREFUSED', 'cancelled: still held');

  // Again from the command palette, and Allow: the tunnel that was to start by itself starts.
  await runCommand(page, `mTLS Tunnels: ${BUTTON.replace('this workspace', 'This Workspace')}`);
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('.dialog-buttons .monaco-button', { hasText: /^Allow$/ }).click();
  await until(async () => (await probe(port)) === 'connected', `the allowed tunnel to listen on ${port}`);
}
