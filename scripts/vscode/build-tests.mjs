// Compiles the VS Code integration tests (test/vscode/**) to out/test/vscode/ for the extension host.
// Each entry is bundled with our own sources; packages (vscode, mocha, @vscode/test-electron) stay
// external and are required at run time. Types are checked by `npm run build` (tsc over test/).
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';

const outdir = 'out/test/vscode';
// suite/: the main suite, run with the extension under development; multiroot/, restricted/ and reload/:
// passes with their own workspace (test/vscode/runTests.ts); packaged/: run against the installed
// .vsix (test/vscode/packagedPass.ts); bench/: the editor-burst benchmark (`npm run bench:editor`),
// whose burstLoad.ts runs in a process of its own. Each folder has an index.ts, mocha's entry point.
const passes = ['suite', 'multiroot', 'restricted', 'reload', 'packaged', 'bench'];
const tests = passes.flatMap((dir) => fs.readdirSync(`test/vscode/${dir}`, { recursive: true })
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/vscode/${dir}/${f}`));

// ui/: scripts the runner plays in the workbench with Playwright (code-server-runner.mjs --ui-script).
const uiScripts = fs.readdirSync('test/vscode/ui').filter((f) => f.endsWith('.ui.ts')).map((f) => `test/vscode/ui/${f}`);

// Start clean: the suite runs every *.test.js it finds, so a deleted test must not linger.
fs.rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: ['test/vscode/runTests.ts', ...passes.map((dir) => `test/vscode/${dir}/index.ts`), ...tests, ...uiScripts, 'test/vscode/bench/burstLoad.ts'],
  outbase: 'test/vscode',
  outdir,
  bundle: true,
  packages: 'external',
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning',
});
