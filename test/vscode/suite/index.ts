// Mocha entry point that VS Code loads in the extension host (`extensionTestsPath`). It runs every
// `*.test.js` compiled next to it (out/test/vscode/suite/**), so adding a test means adding a file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  // MTLS_TUNNELS_GREP=pattern runs only the tests whose titles match (for working on one file).
  const grep = process.env.MTLS_TUNNELS_GREP;
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: true, ...(grep ? { grep } : {}) });
  for (const file of testFiles(__dirname)) mocha.addFile(file);
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}
