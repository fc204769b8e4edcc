// Lets a test capture the workbench at a chosen moment. The extension host cannot see the browser,
// so it asks the runner (scripts/vscode/code-server-runner.mjs) through a console line, which reaches
// the runner via the workbench's `codeAutomationLog`; the runner writes `<dir>/<name>.png` and the
// test waits for that file. Under a desktop VS Code nobody listens, so this returns undefined.
import * as fs from 'node:fs';
import * as path from 'node:path';

export async function screenshot(name: string, timeoutMs = 15_000): Promise<string | undefined> {
  const dir = process.env.MTLS_TUNNELS_SCREENSHOT_DIR;
  if (!dir) return undefined;
  if (!/^[\w.-]+$/.test(name)) throw new Error(`screenshot name ${JSON.stringify(name)}: use letters, digits, . _ -`);
  const file = path.join(dir, `${name}.png`);
  fs.rmSync(file, { force: true });
  console.log(`__SCREENSHOT__ ${name}`);
  // The runner renames a finished file into place, so existence means complete.
  for (const deadline = Date.now() + timeoutMs; !fs.existsSync(file); ) {
    if (Date.now() > deadline) throw new Error(`the runner did not save screenshot ${file} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return file;
}
