/** What every real test server shares: the PKI paths it is given and the handle it returns. */
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/** The server side of a ThrowawayPki: a ThrowawayPki itself fits. */
export interface ServerPki {
  /** Root CA that client certificates must chain to. */
  ca: string;
  /** `cert` holds the server leaf followed by its intermediate. */
  server: { cert: string; key: string };
}

export interface ServerOptions {
  pki: ServerPki;
  /** Listen port; a free one when omitted. */
  port?: number;
  /** Bound on start-up, including data directory creation (defaults differ per server). */
  startTimeoutMs?: number;
}

export interface RunningServer {
  host: '127.0.0.1';
  port: number;
  /** The fresh temporary folder the server lives in; removed by stop(). */
  dir: string;
  /** What the server has logged so far. */
  log(): Promise<string>;
  /** Stops the server and removes `dir`. Safe to call more than once. */
  stop(): Promise<void>;
}

export function makeServerDir(kind: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `mtls-${kind}-`));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Wraps a stop function so it runs once; later calls wait for the same result. */
export function once(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= stop());
}

/**
 * Runs `start` with a fresh folder; if it throws, stops what was started (via `cleanup`) and
 * removes the folder before rethrowing, so a failed start leaves nothing behind.
 */
export async function startIn<T>(
  kind: string,
  start: (dir: string, onFailure: (cleanup: () => Promise<void>) => void) => Promise<T>,
): Promise<T> {
  const dir = await makeServerDir(kind);
  const cleanups: Array<() => Promise<void>> = [];
  try {
    return await start(dir, (cleanup) => cleanups.push(cleanup));
  } catch (err) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await removeDir(dir);
    throw err;
  }
}
