// The activation bundle stays small: node-forge (PKCS#12, names as text) and the certificate
// authority's @peculiar/x509 stack are chunks loaded on first use (esbuild.mjs). A static import of
// either anywhere on the extension's import graph would put them back into dist/extension.js; the
// development build names every bundled package file in a comment, so this reads it for them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const dist = path.join(__dirname, '..', '..', 'dist');

test('dist/extension.js bundles neither node-forge nor @peculiar/x509 (they load on first use)', () => {
  const bundle = readFileSync(path.join(dist, 'extension.js'), 'utf8');
  assert.match(bundle, /\/\/ node_modules\/jsonc-parser\//, 'the development build names its package files (else this test proves nothing)');
  const lazy = [...new Set([...bundle.matchAll(/\/\/ node_modules\/((?:@peculiar\/[^/]+)|node-forge)\//g)].map((m) => m[1]))];
  assert.deepEqual(lazy, [], `bundled into the activation path: ${lazy.join(', ')}`);
  assert.match(bundle, /require\("\.\/forge\.js"\)|import\("\.\/forge\.js"\)/, 'node-forge is reached through its chunk');
});
