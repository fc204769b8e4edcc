/**
 * One throwaway PKI per test file: made in a temp folder before the file's first test, removed
 * after its last. Call `withPki()` at the top level of a test file (or of a describe block).
 */
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { after, before } from 'node:test';
import * as os from 'node:os';
import * as path from 'node:path';
import { createThrowawayPki, PkiFiles, ThrowawayPki } from '../../src/core/pki/testPki';

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

/** A tunnel's cert and key in a folder of their own, which a test replaces as renewal tools do. */
export interface LiveCredentials {
  dir: string;
  cert: string;
  key: string;
  /** Writes both beside the live files, then renames the key and then the cert over them. */
  renameOver(certPem: string, keyPem: string): Promise<void>;
}

/** Copies `identity` into a new folder inside the PKI's. */
export async function liveCredentials(pki: ThrowawayPki, identity: PkiFiles): Promise<LiveCredentials> {
  const dir = await mkdtemp(path.join(pki.dir, 'live-'));
  const cert = path.join(dir, 'client.crt');
  const key = path.join(dir, 'client.key');
  await copyFile(identity.cert, cert);
  await copyFile(identity.key, key);
  const renameOver = async (certPem: string, keyPem: string) => {
    await writeFile(`${cert}.tmp`, certPem);
    await writeFile(`${key}.tmp`, keyPem);
    await rename(`${key}.tmp`, key);
    await rename(`${cert}.tmp`, cert);
  };
  return { dir, cert, key, renameOver };
}
