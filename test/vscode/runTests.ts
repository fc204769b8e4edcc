// Runs the suite in test/vscode/suite inside a real VS Code. By default that VS Code is the server
// from the code-server npm package driven by headless Chromium (scripts/vscode/code-server-runner.mjs),
// because desktop builds cannot be downloaded on our machines. Elsewhere:
//   VSCODE_EXECUTABLE=/path/to/code   run in that desktop VS Code
//   --download                        let @vscode/test-electron download one (needs internet)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { runPackagedPass } from './packagedPass';

// Compiled to out/test/vscode/runTests.js.
const repo = path.resolve(__dirname, '../../..');

// Workspace settings every test starts from; tests may change them and restore them.
const WORKSPACE_SETTINGS = {
  'workbench.startupEditor': 'none',
  // Offline there is no chat; hiding it keeps screenshots on our views and the log quiet.
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

async function main(): Promise<number> {
  // Fresh folders each run, so no state leaks from one run into the next.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-tunnels-vscode-'));
  const workspace = path.join(scratch, 'workspace');
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(workspace, '.vscode/settings.json'), JSON.stringify(WORKSPACE_SETTINGS, null, 2));
  try {
    await runTests({
      vscodeExecutablePath: process.argv.includes('--download')
        ? undefined
        : process.env.VSCODE_EXECUTABLE || path.join(repo, 'scripts/vscode/code-server-runner.mjs'),
      extensionDevelopmentPath: repo,
      extensionTestsPath: path.join(__dirname, 'suite/index.js'),
      launchArgs: [
        workspace,
        `--user-data-dir=${path.join(scratch, 'user-data')}`,
        `--extensions-dir=${path.join(scratch, 'extensions')}`,
        '--disable-extensions', // other installed extensions; the one under development still loads
      ],
      extensionTestsEnv: { MTLS_TUNNELS_TEST_WORKSPACE: workspace },
    });
    return 0;
  } catch (err) {
    // runTests already printed the exit code; a TestRunFailedError carries it.
    const code = (err as { code?: number }).code;
    if (code === undefined) console.error(err);
    return code || 1;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

// Then the same VS Code with the packaged .vsix installed and nothing under development.
main()
  .then(async (code) => {
    const executable = process.argv.includes('--download')
      ? undefined
      : process.env.VSCODE_EXECUTABLE || path.join(repo, 'scripts/vscode/code-server-runner.mjs');
    const packaged = await runPackagedPass(repo, executable, WORKSPACE_SETTINGS);
    return code || packaged;
  })
  .then((code) => { process.exitCode = code; });
