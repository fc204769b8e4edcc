/**
 * One throwaway PKI per test file: made in a temp folder before the file's first test, removed
 * after its last. Call `withPki()` at the top level of a test file (or of a describe block).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { after, before } from 'node:test';
import * as os from 'node:os';
import * as path from 'node:path';
import { createThrowawayPki, ThrowawayPki } from '../../src/core/pki/testPki';

/** The fixture's PKI: call it inside tests and hooks; `ready()` resolves once it is made. */
export interface PkiFixture {
  (): ThrowawayPki;
  ready(): Promise<ThrowawayPki>;
}

/**
 * Registers the before/after hooks; the returned function gives the PKI inside tests and hooks.
 * Node 20 runs a file's top-level before() hooks at the same time, not one after the other: a
 * top-level hook of the test file that needs the PKI awaits `ready()` instead of calling it.
 */
export function withPki(): PkiFixture {
  let making: Promise<{ pki: ThrowawayPki; dispose: () => Promise<void> }> | undefined;
  let made: { pki: ThrowawayPki; dispose: () => Promise<void> } | undefined;
  const make = () => (making ??= makePki().then((m) => (made = m)));
  before(async () => {
    await make();
  });
  after(() => made?.dispose());
  const fixture = () => {
    if (!made) throw new Error('withPki(): the PKI is made in a before() hook; use it inside tests or later hooks, or await ready()');
    return made.pki;
  };
  return Object.assign(fixture, { ready: async () => (await make()).pki });
}

/**
 * The same PKI for code outside node:test's hooks (the soak script, or a test that wants its own):
 * `dispose` removes it.
 */
export async function makePki(): Promise<{ pki: ThrowawayPki; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-pki-'));
  const pki = await createThrowawayPki(dir);
  return { pki, dispose: () => rm(dir, { recursive: true, force: true }) };
}
