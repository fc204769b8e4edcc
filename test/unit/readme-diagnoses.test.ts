/**
 * The README's troubleshooting table says what every diagnosis code means: it is the one
 * scripts/diagnoses-table.ts writes (tsc already fails when a code has no row), and every code
 * in it is one the core really produces.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { codesNeverProduced, updatedReadme } from '../../scripts/diagnoses-table';

describe('the README troubleshooting table', () => {
  test('is the one scripts/diagnoses-table.ts writes (run `npx tsx scripts/diagnoses-table.ts` if not)', () => {
    const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    assert.equal(updatedReadme(readme), readme);
  });

  test('lists only codes the core produces', () => {
    assert.deepEqual(codesNeverProduced(), []);
  });
});
