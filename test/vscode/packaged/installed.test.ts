// The .vsix that `npm run package` makes, installed the way a user installs it: VS Code starts with
// no extension under development, so everything here comes from the installed package. It holds
// only the bundles and media, and from those alone the extension activates and a new user's first
// steps work: start the demo server, add its tunnel, send bytes through it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { TestApi } from '../../../src/extension';
import type { StartDemoResult } from '../../../src/vscode/demoCommands';
import { EXTENSION_ID, EchoClient, portOf, withTunnels } from '../suite/fixture';

const extensionsDir = process.env.MTLS_TUNNELS_EXTENSIONS_DIR!;
const sourceDir = process.env.MTLS_TUNNELS_SOURCE_DIR!;

const installed = () => {
  const extension = vscode.extensions.getExtension<TestApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not installed`);
  return extension;
};

const filesUnder = (dir: string): string[] =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();

describe('the packaged extension (.vsix)', () => {
  after(() => vscode.commands.executeCommand('mtlsTunnels.stopDemo'));

  it('is loaded from the extensions folder, not from the source tree', () => {
    assert.ok(extensionsDir && sourceDir, 'runTests sets MTLS_TUNNELS_EXTENSIONS_DIR and MTLS_TUNNELS_SOURCE_DIR');
    const extension = installed();
    assert.ok(extension.extensionPath.startsWith(path.resolve(extensionsDir) + path.sep), `loaded from ${extension.extensionPath}`);
    assert.ok(!extension.extensionPath.startsWith(path.resolve(sourceDir) + path.sep));
    assert.equal(extension.extensionKind, vscode.ExtensionKind.Workspace);
  });

  it('holds only what runs and what the Extensions view shows', () => {
    const files = filesUnder(installed().extensionPath);
    for (const bundle of ['extension', 'cli', 'forge', 'authority']) assert.ok(files.includes(`dist/${bundle}.js`), files.join(', '));
    assert.ok(files.includes('media/icon.png') && files.includes('package.json'), files.join(', '));
    const unexpected = files.filter((f) => !/^(dist\/(extension|cli|forge|authority)\.js|media\/.+|package\.json|readme\.md|changelog\.md|LICENSE\.txt|\.vsixmanifest)$/i.test(f));
    assert.deepEqual(unexpected, [], `unexpected files in the package: ${unexpected.join(', ')}`);
    // The production bundle: minified, no sourcemap reference.
    const bundle = fs.readFileSync(path.join(installed().extensionPath, 'dist/extension.js'), 'utf8');
    assert.doesNotMatch(bundle, /sourceMappingURL/);
  });

  it('activates, and its demo gives a working tunnel', async function () {
    this.timeout(60_000);
    const extension = installed();
    const api = await extension.activate();
    assert.equal(extension.isActive, true);
    await withTunnels([], async () => {
      const result = await vscode.commands.executeCommand<StartDemoResult>('mtlsTunnels.startDemo', { addTunnel: 'trusted' });
      assert.equal(result?.tunnel, 'demo');
      await vscode.commands.executeCommand('mtlsTunnels.start', 'demo');
      const client = await EchoClient.connect(portOf(api, 'demo'));
      try {
        assert.equal(await client.echo('installed from the .vsix'), 'installed from the .vsix');
      } finally {
        client.close();
      }
      const report = await vscode.commands.executeCommand<string>('mtlsTunnels.testConnection', 'demo');
      assert.match(report, /Verdict: OK/);
    });
  });
});
