// A tunnel whose client certificate comes from its identityCommand (printed on stdout, kept in
// memory): it starts in the editor, the command's output is never written where `cert` points,
// and the tooltip says when identityCommand renews it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { tunnelEntry, withBackend, withTunnels } from './fixture';

describe('a tunnel with identityCommand', () => {
  const backend = withBackend();

  it('starts on the certificate the command prints, and its tooltip says when it is renewed', async () => {
    const b = backend();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-vscode-identity-'));
    const cert = path.join(dir, 'me.crt');
    const key = path.join(dir, 'me.key');
    try {
      await withTunnels([
        tunnelEntry(b, 'renewed', { cert, key, identityCommand: `cat '${b.pki.client.cert}' '${b.pki.client.key}'` }),
      ], async (api) => {
        await api.manager.start('renewed');
        assert.equal(api.manager.entry('renewed')?.state, 'running');
        const tooltip = (api.tree.tooltipOf(api.tree.tunnelItem('renewed')!) as vscode.MarkdownString).value;
        assert.match(tooltip, /identityCommand renews it at /);
        assert.match(tooltip, /from its output, kept in memory/);
        assert.equal(fs.existsSync(cert), false, 'the printed certificate is not written to disk');
        assert.equal(fs.existsSync(key), false);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
