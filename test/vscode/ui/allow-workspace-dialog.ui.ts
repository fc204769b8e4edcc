// "Allow for this workspace…" as a user meets it: the workspace's settings set
// "allowOtherUsers": true on an autoStart tunnel, so it is held and says so in a notification;
// its button opens VS Code's real modal naming what would be exposed (extension tests cannot show
// modals, so this drives the workbench with Playwright). Cancel leaves it held; Allow starts it.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { Page } from 'playwright-core';

interface Ui {
  page: Page;
  screenshot(name: string): Promise<void>;
  log(line: string): void;
}

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

/** F1, the command's title, Enter: as a user runs it. */
async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  const rows = page.locator('.quick-input-widget .monaco-list-row');
  await rows.first().waitFor();
  const labels = (await rows.locator('.label-name').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  const index = labels.indexOf(title);
  if (index < 0) throw new Error(`"${title}" is not among the commands offered: ${labels.join(' | ')}`);
  await rows.nth(index).click();
}

function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve('connected'); });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

async function until(probeFn: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await probeFn());) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
