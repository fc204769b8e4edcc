// Settings problems where the user types: the hand-written entry ("listen": "0.0.0.0:5432",
// "cetr", "protocol": "postgress") gets one Problems entry per mistake on the exact range of that
// field in .vscode/settings.json, the entry stays in the tree as an error item with its problems,
// quick fixes repair each one, and once saved the problems are gone and the tunnel is in the tree.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { InvalidItem, ProblemItem } from '../../../src/vscode/tunnelTree';
import { tunnelEntry, waitFor, withBackend, withTunnels } from './fixture';
import { screenshot } from './screenshot';

const SOURCE = 'mTLS Tunnels';

function settingsUri(): vscode.Uri {
  return vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, '.vscode', 'settings.json');
}

function ours(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === SOURCE);
}

/** The range of the n-th occurrence of `needle` in the document. */
function rangeOfText(doc: vscode.TextDocument, needle: string): vscode.Range {
  const offset = doc.getText().indexOf(needle);
  assert.ok(offset >= 0, `${needle} is in the settings file`);
  return new vscode.Range(doc.positionAt(offset), doc.positionAt(offset + needle.length));
}

describe('settings problems', () => {
  const backend = withBackend();

  it('marks each bad field exactly, keeps the entry in the tree, and quick fixes repair it', async function () {
    this.timeout(60_000);
    const b = backend();
    const good = tunnelEntry(b, 'good');
    const bad = { name: 'pg', listen: '0.0.0.0:5432', target: `127.0.0.1:${b.server.port}`, cetr: b.pki.client.cert, key: b.pki.client.key, ca: b.pki.ca, protocol: 'postgress' };
    await withTunnels([good, bad], async (api) => {
      const uri = settingsUri();
      const diagnostics = await waitFor(() => {
        const d = ours(uri);
        return d.length >= 4 ? d : undefined;
      }, 'the problems of "pg" in the Problems panel');
      const doc = await vscode.workspace.openTextDocument(uri);
      const find = (re: RegExp) => diagnostics.find((d) => re.test(d.message));
      const listen = find(/not a loopback address/);
      const cetr = find(/unknown field "cetr"; did you mean "cert"\?/);
      const protocol = find(/unknown protocol "postgress"/);
      const cert = find(/key is set but cert is missing/);
      assert.ok(listen && cetr && protocol && cert, `the four problems: ${diagnostics.map((d) => d.message).join(' | ')}`);
      // The field, not the object: the listen value, the misspelt key, the protocol value.
      assert.deepEqual(listen.range, rangeOfText(doc, '"0.0.0.0:5432"'));
      assert.deepEqual(cetr.range, rangeOfText(doc, '"cetr"'));
      assert.deepEqual(protocol.range, rangeOfText(doc, '"postgress"'));
      for (const d of [listen, cetr, protocol]) {
        assert.equal(d.severity, vscode.DiagnosticSeverity.Error);
        assert.match(d.message, /^Tunnel "pg": /);
        assert.doesNotMatch(d.message, /`/);
      }
      // The good tunnel runs on; the bad one stays visible, as an error item with its problems.
      assert.deepEqual(api.manager.names(), ['good']);
      const invalid = await waitFor(() => api.tree.invalidItemsNow().find((i) => i.label === 'pg'), 'the error item "pg"') as InvalidItem;
      assert.equal(invalid.contextValue, 'invalid');
      assert.match(String(invalid.description), /^not used: 4 problems in settings$/);
      const children = api.tree.getChildren(invalid) as ProblemItem[];
      assert.deepEqual(children.map((c) => c.label).sort(), ['"cert"', '"cetr"', '"listen"', '"protocol"']);
      const listenItem = children.find((c) => c.label === '"listen"')!;
      assert.equal(listenItem.command?.command, 'mtlsTunnels.revealSettingsField');

      // Clicking a problem opens the file with the cursor on that field.
      await vscode.commands.executeCommand(listenItem.command!.command, ...listenItem.command!.arguments!);
      const editor = await waitFor(() => vscode.window.activeTextEditor?.document.uri.toString() === uri.toString() && vscode.window.activeTextEditor, 'the settings editor');
      assert.deepEqual(editor.selection, new vscode.Selection(listen.range.start, listen.range.end));
      await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
      await vscode.commands.executeCommand('workbench.actions.view.problems');
      await screenshot('settings-problems');

      // Quick fixes: rename "cetr" to "cert", listen on 127.0.0.1 with the same port, the protocol spelt right.
      for (const [range, title] of [[cetr.range, 'Rename the field to "cert"'], [listen.range, 'Change it to "127.0.0.1:5432"'], [protocol.range, 'Change it to "postgres"']] as const) {
        const current = ours(uri).find((d) => d.range.isEqual(range)) ? range : undefined;
        assert.ok(current, `a problem at ${title}`);
        const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, range);
        const action = actions.find((a) => a.title === title);
        assert.ok(action?.edit, `quick fix "${title}" among ${actions.map((a) => a.title).join(', ')}`);
        assert.ok(await vscode.workspace.applyEdit(action.edit));
        // The next fix's range moved with the edit: re-read it after the save refreshed the problems.
        await doc.save();
        await waitFor(() => !ours(uri).some((d) => d.message === (title.startsWith('Rename') ? cetr : title.includes('127') ? listen : protocol).message), `the problem fixed by "${title}" to go`);
        const fresh = ours(uri);
        if (title.startsWith('Rename')) {
          listen.range = fresh.find((d) => /not a loopback/.test(d.message))!.range;
          protocol.range = fresh.find((d) => /unknown protocol/.test(d.message))!.range;
        } else if (title.includes('127')) {
          protocol.range = fresh.find((d) => /unknown protocol/.test(d.message))!.range;
        }
      }
      const text = doc.getText();
      assert.match(text, /"cert": /);
      assert.match(text, /"listen": "127\.0\.0\.1:5432"/);
      assert.match(text, /"protocol": "postgres"/);
      await waitFor(() => api.manager.names().includes('pg'), 'the fixed tunnel in the manager');
      await waitFor(() => ours(uri).length === 0 || undefined, 'no problems left');
      await waitFor(() => api.tree.invalidItemsNow().length === 0 || undefined, 'no error item left');
    }, ['good']);
  });
});
