// Bundles the extension, the CLI and the demo. Types are checked separately (`tsc --noEmit`).
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

// Code that only some sessions run goes to a file of its own, required on first use: node-forge
// (PKCS#12 bundles) and the certificate authority the demo signs with (@peculiar/x509 and its
// ASN.1 stack). Each is reached only through `await import(...)`; those imports are pointed at the
// chunk beside the bundle, so loading extension.js at activation does not parse ~530 KB of them.
const LAZY_CHUNKS = {
  forge: { filter: /^node-forge$/, entry: 'node-forge' },
  authority: { filter: /[\\/]pki[\\/]authority$/, entry: 'src/core/pki/authority.ts' },
};
const lazyChunks = {
  name: 'lazy-chunks',
  setup(build) {
    for (const [name, { filter }] of Object.entries(LAZY_CHUNKS)) {
      build.onResolve({ filter }, (args) => (args.kind === 'dynamic-import' ? { path: `./${name}.js`, external: true } : undefined));
    }
  },
};

const options = {
  entryPoints: {
    extension: 'src/extension.ts',
    cli: 'src/cli/main.ts',
    demo: 'src/demo/main.ts',
    ...Object.fromEntries(Object.entries(LAZY_CHUNKS).map(([name, { entry }]) => [name, entry])),
  },
  plugins: [lazyChunks],
  outdir: process.env.MTLS_TUNNELS_OUTDIR ?? 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode'],
  // jsonc-parser's "main" is a UMD build whose dynamic requires esbuild cannot follow; its ESM build bundles.
  mainFields: ['module', 'main'],
  sourcemap: !production,
  sourcesContent: false,
  minify: production,
  metafile: true,
  logLevel: 'warning',
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  const result = await esbuild.build(options);
  if (production) console.log(await esbuild.analyzeMetafile(result.metafile));
}
