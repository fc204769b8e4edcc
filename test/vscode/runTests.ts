// Runs the VS Code integration tests inside a real VS Code, in passes that each open a fresh
// workspace: the main suite (test/vscode/suite, one trusted folder), a multi-root workspace
// (test/vscode/multiroot), an untrusted folder in Restricted Mode (test/vscode/restricted), the
// same folder and user data opened twice, as a window reload or restart does (test/vscode/reload), and
// the workbench driven with Playwright's keyboard and mouse where extension tests cannot reach
// (test/vscode/ui: VS Code shows no modal dialog while extension tests run; the walk pass plays a
// user's morning there: hover under traffic, a broken save, the fix), and
// the packaged .vsix installed as a user would (packagedPass.ts). By default that VS Code is the
// server from the code-server npm package driven by headless Chromium
// (scripts/vscode/code-server-runner.mjs), because desktop builds cannot be downloaded on our
// machines. One more pass, bench-burst (test/vscode/bench), is a benchmark, not a test: it runs
// only when named (`npm run bench:editor`). Elsewhere:
//   VSCODE_EXECUTABLE=/path/to/code   run in that desktop VS Code
//   --download                        let @vscode/test-electron download one (needs internet)
//   MTLS_TUNNELS_PASSES=main,multiroot,restricted,reload,ui,ui-grant,walk,packaged   run only these passes
//   --passes=bench-burst              the same, as an argument
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { startDemoServer } from '../../src/demo/demoServer';
import { createThrowawayPki } from '../../src/core/pki/testPki';
import { runPackagedPass } from './packagedPass';

// Compiled to out/test/vscode/runTests.js.
const repo = path.resolve(__dirname, '../../..');
const executable = process.argv.includes('--download')
  ? undefined
  : process.env.VSCODE_EXECUTABLE || path.join(repo, 'scripts/vscode/code-server-runner.mjs');

// Workspace settings every test starts from; tests may change them and restore them.
const WORKSPACE_SETTINGS = {
  'workbench.startupEditor': 'none',
  // Offline there is no chat; hiding it keeps screenshots on our views and the log quiet.
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

interface Pass {
  /** Folder under out/test/vscode holding the pass's index.js and *.test.js. */
  suite: string;
  /** Makes the workspace to open (a folder or a .code-workspace file) inside `scratch`. */
  workspace(scratch: string): Promise<{ target: string; env?: Record<string, string>; cleanup?: () => Promise<void> }>;
  env?: Record<string, string>;
  /** How many times VS Code opens the workspace with the same user data (default 1); run N sees MTLS_TUNNELS_RUN=N. */
  runs?: number;
  /** No test suite: the code-server runner plays this script (out/test/vscode/ui/NAME.js) in the workbench. */
  uiScript?: string;
  /** Runs only when named in the passes asked for (a benchmark: it would only lengthen `npm test`). */
  optIn?: boolean;
}

function folderWith(dir: string, settings: object): string {
  fs.mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.vscode/settings.json'), JSON.stringify(settings, null, 2));
  return dir;
}

/**
 * A folder whose settings hold one autoStart tunnel, `name`, on a known free port, to a demo
 * server with a throwaway PKI made for this pass.
 */
async function autoStartWorkspace(scratch: string, folder: string, name: string, extra: Record<string, unknown> = {}) {
  const pki = await createThrowawayPki(path.join(scratch, 'pki'));
  const server = await startDemoServer(pki);
  const port = await freePort();
  const target = folderWith(path.join(scratch, folder), {
    ...WORKSPACE_SETTINGS,
    'mtlsTunnels.tunnels': [{
      name, listen: port, target: `127.0.0.1:${server.port}`, serverName: 'localhost',
      cert: pki.client.cert, key: pki.client.key, ca: pki.ca, autoStart: true, ...extra,
    }],
  });
  return { target, port, key: pki.client.key, cleanup: () => server.close() };
}

const PASSES: Record<string, Pass> = {
  main: {
    suite: 'suite',
    workspace: async (scratch) => {
      const target = folderWith(path.join(scratch, 'workspace'), WORKSPACE_SETTINGS);
      return { target, env: { MTLS_TUNNELS_TEST_WORKSPACE: target } };
    },
  },
  multiroot: {
    suite: 'multiroot',
    workspace: async (scratch) => {
      const alpha = folderWith(path.join(scratch, 'alpha'), {});
      const beta = folderWith(path.join(scratch, 'beta'), {});
      const target = path.join(scratch, 'team.code-workspace');
      fs.writeFileSync(target, JSON.stringify({ folders: [{ path: alpha }, { path: beta }], settings: WORKSPACE_SETTINGS }, null, 2));
      return { target };
    },
    env: { MTLS_TUNNELS_LOG_NAME: 'vscode-multiroot.log', MTLS_TUNNELS_TIMEOUT_S: '240' },
  },
  restricted: {
    suite: 'restricted',
    // A working autoStart tunnel in the settings of a folder VS Code has never been told to trust:
    // had the extension acted on it, something would listen on `port`.
    workspace: async (scratch) => {
      // Its identityCommand would leave this file behind if it ever ran (the certificate is inside its window).
      const marker = path.join(scratch, 'identity-command-ran');
      const made = await autoStartWorkspace(scratch, 'untrusted', 'untrusted', { identityCommand: `touch '${marker}'`, renewBefore: '400d' });
      return { ...made, env: { MTLS_TUNNELS_RESTRICTED_PORT: String(made.port), MTLS_TUNNELS_RESTRICTED_MARKER: marker } };
    },
    env: { MTLS_TUNNELS_WORKSPACE_TRUST: '1', MTLS_TUNNELS_LOG_NAME: 'vscode-restricted.log', MTLS_TUNNELS_TIMEOUT_S: '240' },
  },
  reload: {
    suite: 'reload',
    runs: 3,
    // Two tunnels to a server that outlives the runs: the first run starts both and stops one,
    // and starts the demo server; the second, with the same user data, finds what was running and
    // turns mtlsTunnels.restoreOnReload off; the third finds nothing restored.
    workspace: async (scratch) => {
      const pki = await createThrowawayPki(path.join(scratch, 'pki'));
      const server = await startDemoServer(pki);
      const entry = (name: string) => ({
        name, listen: 0, target: `127.0.0.1:${server.port}`, serverName: 'localhost', cert: pki.client.cert, key: pki.client.key, ca: pki.ca,
      });
      const target = folderWith(path.join(scratch, 'workspace'), { ...WORKSPACE_SETTINGS, 'mtlsTunnels.tunnels': [entry('kept'), entry('stopped')] });
      // A web workbench keeps its state per origin: the second run must be served on the same port.
      const env = { MTLS_TUNNELS_RELOAD_NOTES: path.join(scratch, 'reload-notes.json'), MTLS_TUNNELS_SERVER_PORT: String(await freePort()) };
      return { target, env, cleanup: () => server.close() };
    },
    env: { MTLS_TUNNELS_TIMEOUT_S: '240' },
  },
  ui: {
    suite: 'ui',
    uiScript: 'confirm-stop-dialog.ui.js',
    // One autoStart tunnel on a known port, so the script's plain client can hold a session open.
    workspace: async (scratch) => {
      const made = await autoStartWorkspace(scratch, 'workspace', 'ui');
      return { ...made, env: { MTLS_TUNNELS_UI_PORT: String(made.port) } };
    },
    env: { MTLS_TUNNELS_LOG_NAME: 'vscode-ui.log', MTLS_TUNNELS_TIMEOUT_S: '180' },
  },
  'ui-grant': {
    suite: 'ui',
    uiScript: 'allow-workspace-dialog.ui.js',
    // The workspace's settings let other users in ("allowOtherUsers") on an autoStart tunnel: held
    // until the script clicks "Allow for this workspace…" and Allow in VS Code's real modal.
    workspace: async (scratch) => {
      const made = await autoStartWorkspace(scratch, 'workspace', 'shared', { allowOtherUsers: true });
      return { ...made, env: { MTLS_TUNNELS_UI_PORT: String(made.port) } };
    },
    env: { MTLS_TUNNELS_LOG_NAME: 'vscode-ui-grant.log', MTLS_TUNNELS_TIMEOUT_S: '180' },
  },
  walk: {
    suite: 'ui',
    uiScript: 'walkthrough.ui.js',
    // A user's morning: one tunnel in the workspace's settings, a session open through it, the
    // settings file edited (fine, broken, fixed) while the session runs.
    workspace: async (scratch) => {
      const made = await autoStartWorkspace(scratch, 'workspace', 'db');
      return {
        ...made,
        env: { MTLS_TUNNELS_UI_PORT: String(made.port), MTLS_TUNNELS_UI_SETTINGS: path.join(made.target, '.vscode/settings.json'), MTLS_TUNNELS_UI_KEY: made.key },
      };
    },
    env: { MTLS_TUNNELS_LOG_NAME: 'vscode-walk.log', MTLS_TUNNELS_TIMEOUT_S: '180' },
  },
  'bench-burst': {
    suite: 'bench',
    optIn: true,
    // An empty folder: the test writes its own tunnel into the settings; its backend runs in the load process.
    workspace: async (scratch) => ({ target: folderWith(path.join(scratch, 'workspace'), WORKSPACE_SETTINGS) }),
    env: { MTLS_TUNNELS_BENCH_OUT: path.join(repo, 'bench/results/editor-burst-host.txt'), MTLS_TUNNELS_LOG_NAME: 'vscode-bench-burst.log', MTLS_TUNNELS_TIMEOUT_S: '900' },
  },
};

async function runPass(name: string, pass: Pass): Promise<number> {
  const started = Date.now();
  // Fresh folders each pass, so no state leaks from one into the next.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `mtls-tunnels-vscode-${name}-`));
  let cleanup: (() => Promise<void>) | undefined;
  try {
    const made = await pass.workspace(scratch);
    cleanup = made.cleanup;
    if (pass.uiScript) {
      if (!executable?.endsWith('code-server-runner.mjs')) {
        console.log(`${name} pass: skipped; it needs the code-server runner to drive the workbench`);
        return 0;
      }
      const code = await playUiScript(pass.uiScript, made.target, scratch, { ...pass.env, ...made.env });
      if (code !== 0) throw Object.assign(new Error(`${name} pass: exit ${code}`), { code });
      console.log(`${name} pass: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    const runs = pass.runs ?? 1;
    for (let run = 1; run <= runs; run++) {
      const log = runs > 1 ? { MTLS_TUNNELS_LOG_NAME: `vscode-${name}-${run}.log` } : {};
      await runTests({
        vscodeExecutablePath: executable,
        extensionDevelopmentPath: repo,
        extensionTestsPath: path.join(__dirname, pass.suite, 'index.js'),
        launchArgs: [
          made.target,
          `--user-data-dir=${path.join(scratch, 'user-data')}`,
          `--extensions-dir=${path.join(scratch, 'extensions')}`,
          '--disable-extensions', // other installed extensions; the one under development still loads
        ],
        extensionTestsEnv: { ...pass.env, ...log, ...made.env, MTLS_TUNNELS_RUN: String(run) },
      });
    }
    console.log(`${name} pass: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } catch (err) {
    // runTests already printed the exit code; a TestRunFailedError carries it.
    const code = (err as { code?: number }).code;
    if (code === undefined) console.error(err);
    console.error(`${name} pass: FAILED`);
    return code || 1;
  } finally {
    await cleanup?.();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** The runner with a UI script instead of a test suite; resolves with its exit code. */
function playUiScript(script: string, target: string, scratch: string, env: Record<string, string>): Promise<number> {
  const child = spawn(process.execPath, [
    executable!, `--extensionDevelopmentPath=${repo}`, `--ui-script=${path.join(__dirname, 'ui', script)}`,
    `--user-data-dir=${path.join(scratch, 'user-data')}`, `--extensions-dir=${path.join(scratch, 'extensions')}`, target,
  ], { stdio: 'inherit', env: { ...process.env, ...env } });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function main(): Promise<number> {
  const asked = process.argv.find((a) => a.startsWith('--passes='))?.slice('--passes='.length) ?? process.env.MTLS_TUNNELS_PASSES;
  const only = asked?.split(',').map((s) => s.trim());
  const wanted = (name: string, pass?: Pass) => (only ? only.includes(name) : !pass?.optIn);
  let failed = 0;
  for (const [name, pass] of Object.entries(PASSES)) {
    if (!wanted(name, pass)) continue;
    // No retries: the reload pass once raced the web workbench's storage flush against the page
    // close; what a reload restores is now written to a file by the extension (fileMemento.ts).
    failed = (await runPass(name, pass)) || failed;
  }
  // Then the same VS Code with the packaged .vsix installed and nothing under development.
  if (wanted('packaged')) failed = (await runPackagedPass(repo, executable, WORKSPACE_SETTINGS)) || failed;
  return failed;
}

main().then((code) => { process.exitCode = code; });
