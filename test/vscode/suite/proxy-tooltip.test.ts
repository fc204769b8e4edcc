// A tunnel's proxy shows in its tooltip as a redacted URL, never with its password; with "env",
// the tooltip says why the tunnel goes direct.
import * as assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import * as vscode from 'vscode';
import { tunnelEntry, withBackend, withTunnels } from './fixture';

const PASSWORD_VARIABLE = 'MTLS_TUNNELS_TEST_PROXY_PASSWORD';
const PASSWORD = 'hunter2-proxy';

describe('a tunnel through an HTTP proxy', () => {
  const backend = withBackend();

  it('shows the proxy redacted in its tooltip, and why "env" goes direct', async () => {
    process.env[PASSWORD_VARIABLE] = PASSWORD;
    try {
      await withTunnels([
        tunnelEntry(backend(), 'via-proxy', { proxy: `http://svc:\${env:${PASSWORD_VARIABLE}}@127.0.0.1:3128` }),
        tunnelEntry(backend(), 'env-proxy', { proxy: 'env' }),
      ], async (api) => {
        const tooltip = (name: string) => (api.tree.tooltipOf(api.tree.tunnelItem(name)!) as vscode.MarkdownString).value;
        assert.match(tooltip('via-proxy'), /Through the HTTP proxy `http:\/\/\*\*\*@127\.0\.0\.1:3128`/);
        assert.doesNotMatch(tooltip('via-proxy'), new RegExp(PASSWORD));
        assert.match(tooltip('env-proxy'), /Direct, not through a proxy: .*loopback/);
      });
    } finally {
      delete process.env[PASSWORD_VARIABLE];
    }
  });
});
