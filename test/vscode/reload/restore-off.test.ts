// Third run of the reload pass: `mtlsTunnels.restoreOnReload` is off, so although "kept" was
// running when the window closed, nothing starts by itself and nothing claims to be restored.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { extensionApi, waitFor } from '../suite/fixture';

describe('with restoreOnReload off', () => {
  it('restores nothing and says nothing', async () => {
    const api = await extensionApi();
    assert.equal(vscode.workspace.getConfiguration('mtlsTunnels').get('restoreOnReload'), false);
    await waitFor(() => api.manager.names().length === 2, 'the two tunnels from the settings');
    await api.settled; // what activation starts by itself has started by now
    assert.deepEqual(api.manager.wantedNames(), []);
    assert.deepEqual(api.manager.entries().map((e) => [e.config.name, e.state]), [['kept', 'stopped'], ['stopped', 'stopped']]);
    assert.deepEqual(api.notifications.filter((m) => m.startsWith('Restored')), []);
  });
});
