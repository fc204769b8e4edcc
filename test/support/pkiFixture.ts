/**
 * One throwaway PKI per test file: made in a temp folder before the file's first test, removed
 * after its last. Call `withPki()` at the top level of a test file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { after, before } from 'node:test';
import * as os from 'node:os';
import * as path from 'node:path';
import { createThrowawayPki, ThrowawayPki } from '../../src/core/pki/testPki';

/** Registers the before/after hooks; the returned function gives the PKI inside tests and hooks. */
export function withPki(): () => ThrowawayPki {
  let dir: string | undefined;
  let pki: ThrowawayPki | undefined;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-pki-'));
    pki = await createThrowawayPki(dir);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (!pki) throw new Error('withPki(): the PKI is made in a before() hook; use it inside tests or later hooks');
    return pki;
  };
}
