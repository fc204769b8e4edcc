// A user's morning, clicked and read as a user does (Playwright in the real workbench): a session
// open through "db"; the tunnel's row hovered while data flows (the tooltip must stay up and say
// the numbers); the settings file saved with a harmless change (the session goes on), then with a
// key path that does not exist (the user is told, in a notification, the Problems panel and the
// tree, and the session still goes on), then fixed (the problem goes, and the latest notification
// says it is fixed). Each state is
// a screenshot under test-results/walk-*.png, for a reader to look at.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import { probe, runCommand, Session, Ui, until } from './uiKit';

export async function run({ page, screenshot, log }: Ui): Promise<void> {
  const port = Number(process.env.MTLS_TUNNELS_UI_PORT);
  const settingsFile = process.env.MTLS_TUNNELS_UI_SETTINGS!;
  const key = process.env.MTLS_TUNNELS_UI_KEY!;
  await until(async () => (await probe(port)) === 'connected', `the autoStart tunnel to listen on ${port}`);
  const session = await Session.open(port);
  try {
    assert.equal(await session.echo('good morning'), 'good morning');
    await page.locator('.monaco-workbench').waitFor();
    await runCommand(page, 'View: Show mTLS Tunnels');
    const row = page.locator('.monaco-list-row', { hasText: 'db' }).first();
    await row.waitFor();
    await until(async () => /1 open/.test(await row.innerText()), 'the row to count the open session');
    log(`tunnel row: ${(await row.innerText()).replace(/\s+/g, ' ')}`);

    // Hover the row while the session echoes: the tooltip comes up and stays up across the
    // connection rows' one-second redraws.
    await row.hover();
    const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'Connections:' }).first();
    await hover.waitFor({ state: 'visible' });
    for (let i = 0; i < 6; i++) {
      assert.equal(await session.echo(`while hovering ${i}`), `while hovering ${i}`);
      await page.waitForTimeout(250); // a user reading: the one-second redraws must happen under the hover
    }
    assert.ok(await hover.isVisible(), 'the tooltip is still up after 1.5 s of traffic and redraws');
    const tooltip = (await hover.innerText()).replace(/\s+/g, ' ');
    log(`tooltip under traffic: ${tooltip}`);
    assert.match(tooltip, /Connections: 1 open/);
    assert.doesNotMatch(tooltip, /127\\\.0/, 'no escaping leaks into the address');
    await screenshot('walk-1-tooltip-under-traffic');
    await page.mouse.move(900, 700);

    // A harmless change, saved: the tunnel takes it and the session goes on.
    editTunnel(settingsFile, (t) => ({ ...t, connectTimeoutMs: 7000 }));
    await until(async () => (await session.echo('after a harmless save')) === 'after a harmless save', 'the session after a harmless save');

    // A broken key path, saved: told where the user looks, and the session still goes on.
    const missing = `${key}.moved`;
    editTunnel(settingsFile, (t) => ({ ...t, key: missing }));
    // The server runs with --enable-smoke-test-driver, under which VS Code shows no toasts: the
    // notifications are read in the notification center, as a user who missed the toast does.
    const latest = await notificationsNow(page, 'a notification about "db"', (n) => n.some((t) => t.includes('"db"') && /key/.test(t)));
    log(`notification: ${latest[0]}`);
    assert.match(latest[0], /^Tunnel "db": the key file .* does not exist\..*keeps using its previous settings/);
    await screenshot('walk-2-broken-key-notification');
    await runCommand(page, 'Notifications: Hide Notifications');
    assert.equal(await session.echo('after a broken save'), 'after a broken save');
    await runCommand(page, 'Problems: Focus on Problems View');
    const problem = page.locator('.markers-panel .monaco-list-row', { hasText: 'key file' }).first();
    await problem.waitFor({ state: 'visible' });
    log(`problem: ${(await problem.innerText()).replace(/\s+/g, ' ')}`);
    log(`tunnel row: ${await row.getAttribute('aria-label')}`);
    await screenshot('walk-2-broken-key');

    // Fixed: the problem goes away, the latest word says so, and the tunnel is well again.
    editTunnel(settingsFile, (t) => ({ ...t, key }));
    await until(async () => (await page.locator('.markers-panel .monaco-list-row', { hasText: 'key file' }).count()) === 0, 'the problem about "db" to go away');
    const after = await notificationsNow(page, 'the line that says it is fixed', (n) => /is running with its current settings again/.test(n[0] ?? ''));
    log(`latest notification: ${after[0]}`);
    assert.equal(await session.echo('after the fix'), 'after the fix');
    const fresh = await Session.open(port);
    assert.equal(await fresh.echo('a new connection'), 'a new connection');
    fresh.socket.destroy();
    await screenshot('walk-3-fixed');
  } finally {
    session.socket.destroy();
  }
}

/** Rewrites the one tunnel in the workspace's settings file, as a save in the editor would. */
function editTunnel(file: string, change: (tunnel: Record<string, unknown>) => Record<string, unknown>): void {
  const settings = JSON.parse(fs.readFileSync(file, 'utf8'));
  settings['mtlsTunnels.tunnels'] = settings['mtlsTunnels.tunnels'].map(change);
  fs.writeFileSync(file, JSON.stringify(settings, null, 2));
}

/** The notification center's messages, newest first, once `ready` holds (the center stays open). */
async function notificationsNow(page: Page, what: string, ready: (messages: string[]) => boolean): Promise<string[]> {
  await runCommand(page, 'Notifications: Show Notifications');
  const read = async () => (await page.locator('.notifications-center .notification-list-item-message').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  await until(async () => ready(await read()), what);
  return read();
}
