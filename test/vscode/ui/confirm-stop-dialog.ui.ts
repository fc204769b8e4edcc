// The confirmation before Stop, as a user meets it: VS Code refuses modal dialogs while extension
// tests run, so this drives the workbench without a test suite (the runner's --ui-script), with
// Playwright's keyboard and mouse. A tunnel marked autoStart runs on a known port; a plain client
// holds a session open; "mTLS Tunnels: Stop Tunnel" from the command palette must ask, Cancel must
// keep the session echoing, and Stop must close it.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { Page } from 'playwright-core';

interface Ui {
  page: Page;
  screenshot(name: string): Promise<void>;
  log(line: string): void;
}

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

/** F1, the command's title, Enter: as a user runs it. */
async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  // "Stop All Tunnels" matches too, and may be listed first (recently used): click the exact title.
  const rows = page.locator('.quick-input-widget .monaco-list-row');
  await rows.first().waitFor();
  const labels = (await rows.locator('.label-name').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  const index = labels.indexOf(title);
  if (index < 0) throw new Error(`"${title}" is not among the commands offered: ${labels.join(' | ')}`);
  await rows.nth(index).click();
}

class Session {
  private received = '';
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8').on('data', (d: string) => { this.received += d; });
  }
  static open(port: number): Promise<Session> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new Session(socket)));
      socket.once('error', reject);
    });
  }
  async echo(text: string): Promise<string> {
    this.received = '';
    this.socket.write(text);
    await until(() => this.received.length >= text.length, `the echo of ${JSON.stringify(text)}`);
    return this.received;
  }
  closed(): Promise<void> {
    return this.socket.destroyed || this.socket.readableEnded ? Promise.resolve() : new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
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
