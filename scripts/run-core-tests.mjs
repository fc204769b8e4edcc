// Runs the plain-Node suites (unit, real servers, CLI, reliability) with Node's built-in test runner.
// Files are listed here rather than globbed because Node 20's --test takes no glob patterns.
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const dirs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['test/unit', 'test/servers', 'test/cli', 'test/reliability'];
const files = dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(d, f)) : []));
if (files.length === 0) {
  console.error('no test files found in', dirs.join(', '));
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
