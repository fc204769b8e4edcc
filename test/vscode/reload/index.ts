// Mocha entry point of the reload pass (see ../runTests.ts): VS Code opens the same folder with the
// same user data twice; run N (MTLS_TUNNELS_RUN) runs only the tests of that run.
import * as path from 'node:path';
import Mocha from 'mocha';

const FILES: Record<string, string> = { 1: 'before-reload.test.js', 2: 'after-reload.test.js', 3: 'restore-off.test.js' };

export function run(): Promise<void> {
  const file = FILES[process.env.MTLS_TUNNELS_RUN ?? ''];
  if (!file) return Promise.reject(new Error(`MTLS_TUNNELS_RUN=${process.env.MTLS_TUNNELS_RUN}: expected 1, 2 or 3`));
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: true });
  mocha.addFile(path.join(__dirname, file));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}
