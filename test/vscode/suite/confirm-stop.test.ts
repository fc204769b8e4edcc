// Stop, Restart and Stop All cut live sessions, so with connections open they ask first in a modal
// warning that says how many on which tunnel; Cancel leaves every session echoing. With nothing
// open nothing is asked. VS Code refuses to show modal dialogs while extension tests run, so the
// question is answered through the TestApi's seam (confirmStop.ts), the button a user would click.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { TestApi } from '../../../src/extension';
import type { CutQuestion } from '../../../src/vscode/confirmStop';
import { EchoClient, portOf, tryConnect, tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';

const open = (api: TestApi, name: string) => api.manager.entry(name)?.snapshot?.openConnections ?? 0;

/** Runs `command` with the question answered by `button`; resolves with its result and the questions asked. */
async function answering(api: TestApi, button: string | undefined, command: () => Thenable<unknown>): Promise<{ result: unknown; asked: CutQuestion[] }> {
  const asked: CutQuestion[] = [];
  const seam = api.answerCutQuestions!((q) => {
    asked.push(q);
    return button;
  });
  try {
    return { result: await command(), asked };
  } finally {
    seam.dispose();
  }
}

describe('confirmation before cutting live sessions', () => {
  const backend = withBackend();

  it('Stop with open connections asks; Cancel keeps them, Stop closes them', async () => {
    await withTunnels([tunnelEntry(backend(), 'db')], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.start', 'db');
      const port = portOf(api, 'db');
      const clients = [await EchoClient.connect(port), await EchoClient.connect(port)];
      try {
        for (const c of clients) assert.equal(await c.echo('before'), 'before');
        await waitFor(() => open(api, 'db') === 2, 'two open connections');

        // From the tree item's inline button: Cancel (Escape or the Cancel button: no answer).
        const cancelled = await answering(api, undefined, () => vscode.commands.executeCommand('mtlsTunnels.stop', api.tree.tunnelItem('db')));
        assert.equal(cancelled.asked.length, 1);
        assert.equal(cancelled.asked[0].message, '2 open connections on "db" will be closed.');
        assert.deepEqual(cancelled.asked[0].buttons, ['Stop', 'Cancel']);
        assert.equal(cancelled.result, false);
        assert.equal(api.manager.entry('db')?.state, 'running');
        for (const c of clients) assert.equal(await c.echo('still here'), 'still here');

        // Restart asks too, with its own button.
        const restart = await answering(api, undefined, () => vscode.commands.executeCommand('mtlsTunnels.restart', 'db'));
        assert.deepEqual(restart.asked.map((q) => [q.message, q.buttons[0]]), [['2 open connections on "db" will be closed.', 'Restart']]);
        for (const c of clients) assert.equal(await c.echo('after restart cancelled'), 'after restart cancelled');

        // From the palette, by name: Stop.
        const stopped = await answering(api, 'Stop', () => vscode.commands.executeCommand('mtlsTunnels.stop', 'db'));
        assert.equal(stopped.asked.length, 1);
        assert.equal(stopped.result, true);
        assert.equal(api.manager.entry('db')?.state, 'stopped');
        assert.equal(await tryConnect(port), 'ECONNREFUSED');
      } finally {
        for (const c of clients) c.close();
      }
    });
  });

  it('Stop All counts every tunnel\'s connections; an idle Stop asks nothing', async () => {
    await withTunnels([tunnelEntry(backend(), 'one'), tunnelEntry(backend(), 'two'), tunnelEntry(backend(), 'idle')], async (api) => {
      await vscode.commands.executeCommand('mtlsTunnels.startAll');
      const clients = [
        await EchoClient.connect(portOf(api, 'one')), await EchoClient.connect(portOf(api, 'one')), await EchoClient.connect(portOf(api, 'two')),
      ];
      try {
        for (const c of clients) assert.equal(await c.echo('x'), 'x');
        await waitFor(() => open(api, 'one') === 2 && open(api, 'two') === 1, 'three open connections');

        const idle = await answering(api, 'Stop', () => vscode.commands.executeCommand('mtlsTunnels.stop', 'idle'));
        assert.deepEqual(idle.asked, [], 'nothing open on "idle": nothing to ask');
        assert.equal(idle.result, true);

        const all = await answering(api, undefined, () => vscode.commands.executeCommand('mtlsTunnels.stopAll'));
        assert.deepEqual(all.asked.map((q) => [q.message, q.buttons[0]]), [['3 open connections (2 on "one", 1 on "two") will be closed.', 'Stop All']]);
        assert.equal(all.result, false);
        for (const c of clients) assert.equal(await c.echo('kept'), 'kept');

        const accepted = await answering(api, 'Stop All', () => vscode.commands.executeCommand('mtlsTunnels.stopAll'));
        assert.equal(accepted.result, true);
        assert.deepEqual(api.manager.entries().map((e) => e.state), ['stopped', 'stopped', 'stopped']);
      } finally {
        for (const c of clients) c.close();
      }
    });
  });
});
