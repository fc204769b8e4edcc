// What the UI scripts share: the command palette as a user runs it, a plain client holding a
// session open through a tunnel, and waiting on a condition (the runner gives us a page, not events).
import * as net from 'node:net';
import type { Page } from 'playwright-core';

export interface Ui {
  page: Page;
  screenshot(name: string): Promise<void>;
  log(line: string): void;
}

/** F1, the command's title, Enter: as a user runs it. */
export async function runCommand(page: Page, title: string): Promise<void> {
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

export class Session {
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

export function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve('connected'); });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

export async function until(probeFn: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await probeFn());) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
