// The packaged pass of the VS Code tests, after the main suite: `npm run package` makes the .vsix
// (or MTLS_TUNNELS_VSIX names a ready one), VS Code installs it into an empty extensions folder
// with `--install-extension`, exactly as a user would, and then runs test/vscode/packaged with no
// extension under development, so nothing can come from the source tree. (VS Code runs extension
// tests only in extension-development mode, so the development path is an empty folder.)
// MTLS_TUNNELS_SKIP_PACKAGED=1 skips it (quicker runs while working on the main suite).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

export async function runPackagedPass(repo: string, executable: string | undefined, workspaceSettings: object): Promise<number> {
  if (process.env.MTLS_TUNNELS_SKIP_PACKAGED) {
    console.log('packaged pass: skipped (MTLS_TUNNELS_SKIP_PACKAGED)');
    return 0;
  }
  if (!executable) {
    console.log('packaged pass: skipped; it installs into a VS Code given by path (the code-server runner or VSCODE_EXECUTABLE)');
    return 0;
  }
  const started = Date.now();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-tunnels-vsix-'));
  const workspace = path.join(scratch, 'workspace');
  const userDataDir = path.join(scratch, 'user-data');
  const extensionsDir = path.join(scratch, 'extensions');
  const nothingUnderDevelopment = path.join(scratch, 'no-extension');
  fs.mkdirSync(nothingUnderDevelopment);
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(workspace, '.vscode/settings.json'), JSON.stringify(workspaceSettings, null, 2));
  try {
    let vsix = process.env.MTLS_TUNNELS_VSIX && path.resolve(process.env.MTLS_TUNNELS_VSIX);
    if (!vsix) {
      vsix = path.join(scratch, 'mtls-tunnels.vsix');
      console.log('packaged pass: npm run package');
      const packaged = spawnSync('npm', ['run', 'package', '--silent', '--', '--out', vsix], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
      if (packaged.status !== 0) {
        console.error(`packaged pass: npm run package failed (exit ${packaged.status ?? packaged.signal})`);
        return 1;
      }
    }
    console.log(`packaged pass: installing ${path.basename(vsix)} (${Math.round(fs.statSync(vsix).size / 1024)} KiB) into an empty extensions folder`);
    const installed = spawnSync(executable, ['--install-extension', vsix, `--extensions-dir=${extensionsDir}`, `--user-data-dir=${userDataDir}`], { stdio: 'inherit' });
    if (installed.status !== 0) {
      console.error(`packaged pass: installing the .vsix failed (exit ${installed.status ?? installed.signal})`);
      return 1;
    }
    await runTests({
      vscodeExecutablePath: executable,
      extensionDevelopmentPath: nothingUnderDevelopment, // empty: the extension comes from the installed .vsix only
      extensionTestsPath: path.join(__dirname, 'packaged/index.js'),
      launchArgs: [workspace, `--user-data-dir=${userDataDir}`, `--extensions-dir=${extensionsDir}`],
      extensionTestsEnv: {
        MTLS_TUNNELS_TEST_WORKSPACE: workspace,
        MTLS_TUNNELS_EXTENSIONS_DIR: extensionsDir,
        MTLS_TUNNELS_SOURCE_DIR: repo,
        // Read by the code-server runner: keep the main suite's log.
        MTLS_TUNNELS_LOG_NAME: 'vscode-packaged.log',
        // A pass this small that has not ended in three minutes is stuck.
        MTLS_TUNNELS_TIMEOUT_S: process.env.MTLS_TUNNELS_TIMEOUT_S ?? '180',
      },
    });
    console.log(`packaged pass: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === undefined) console.error(err);
    return code || 1;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
