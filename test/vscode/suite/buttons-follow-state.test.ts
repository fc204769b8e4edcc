// Buttons and welcome links follow state: no "Start the Demo Server" while it runs, no Start on a
// running tunnel, Start All / Stop All only when there is something to start or stop. The `when`
// clauses are read from the manifest; the screenshots show the welcome view in both demo states.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { EXTENSION_ID, withTunnels } from './fixture';
import { screenshot } from './screenshot';

interface Menu { command: string; when?: string; group?: string }
const manifest = () => vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON.contributes;

describe('buttons and welcome links follow state', () => {
  it('offers Start on stopped or failed tunnels only, Stop on running ones only', () => {
    const items = manifest().menus['view/item/context'] as Menu[];
    const when = (command: string) => items.filter((m) => m.command === command).map((m) => m.when!);
    // EDITOR-A's tree items carry contextValue `tunnel.<state>` (tunnelTree.ts).
    const matches = (clause: string, contextValue: string) => new RegExp(/viewItem =~ \/(.*)\//.exec(clause)![1]).test(contextValue);
    for (const clause of when('mtlsTunnels.start')) {
      assert.ok(matches(clause, 'tunnel:stopped') && matches(clause, 'tunnel:error'), clause);
      assert.ok(!matches(clause, 'tunnel:running'), `Start shows on a running tunnel: ${clause}`);
    }
    for (const clause of when('mtlsTunnels.stop')) {
      assert.ok(matches(clause, 'tunnel:running'), clause);
      assert.ok(!matches(clause, 'tunnel:stopped') && !matches(clause, 'tunnel:error'), `Stop shows on a stopped tunnel: ${clause}`);
    }
    const title = manifest().menus['view/title'] as Menu[];
    assert.match(title.find((m) => m.command === 'mtlsTunnels.startAll')!.when!, /mtlsTunnels\.someStopped/);
    assert.match(title.find((m) => m.command === 'mtlsTunnels.stopAll')!.when!, /mtlsTunnels\.someRunning/);
  });

  it('has no "Start the Demo Server" while the demo server runs', async function () {
    this.timeout(30_000);
    const welcome = manifest().viewsWelcome as Array<{ when: string; contents: string }>;
    const running = welcome.filter((w) => /(^|&& )mtlsTunnels\.demoRunning/.test(w.when));
    assert.equal(running.length, 1);
    assert.doesNotMatch(running[0].contents, /\(command:mtlsTunnels\.startDemo\)/);
    assert.match(running[0].contents, /command:mtlsTunnels\.stopDemo/);
    const palette = manifest().menus.commandPalette as Menu[];
    assert.equal(palette.find((m) => m.command === 'mtlsTunnels.startDemo')?.when, '!mtlsTunnels.demoRunning');

    await withTunnels([], async () => {
      await vscode.commands.executeCommand('mtlsTunnels.startDemo');
      try {
        await vscode.commands.executeCommand('notifications.clearAll');
        await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
        await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
        await new Promise((r) => setTimeout(r, 500)); // let the welcome view repaint before the picture
        await screenshot('welcome-demo-running');
      } finally {
        await vscode.commands.executeCommand('mtlsTunnels.stopDemo');
        await vscode.commands.executeCommand('notifications.clearAll');
      }
      await new Promise((r) => setTimeout(r, 500));
      await screenshot('welcome-demo-stopped');
    });
  });
});
