/**
 * What the CLI tests share: a folder of their own for settings files, a throwaway PKI and a real
 * mTLS echo server, made before a file's first test and removed after its last; `tunnel()` is an
 * entry that reaches that server, and `configFile()` writes a settings file there.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { MtlsServer, startMtlsServer } from './mtlsServer';
import { PkiFixture, withPki } from './pkiFixture';

export interface CliWorkspace {
  dir(): string;
  pki: PkiFixture;
  server(): MtlsServer;
  /** A tunnel entry (name "echo", listen 0) to the echo server, with `overrides`. */
  tunnel(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** Writes `{ tunnels }` (or, with a name, any content) into the folder; returns its path. */
  configFile(tunnels: Record<string, unknown>[]): Promise<string>;
  configFile(name: string, content: unknown): Promise<string>;
}

/** Registers the hooks at the top level of a test file; `prefix` names the temp folder. */
export function withCliWorkspace(prefix: string): CliWorkspace {
  const pki = withPki();
  let dir: string | undefined;
  let server: MtlsServer | undefined;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
    server = await startMtlsServer(await pki.ready());
  });
  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const made = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`withCliWorkspace(): the ${what} is made in a before() hook; use it inside tests`);
    return value;
  };
  const workspace: CliWorkspace = {
    dir: () => made(dir, 'folder'),
    pki,
    server: () => made(server, 'server'),
    tunnel: (overrides = {}) => {
      const p = pki();
      return { name: 'echo', listen: 0, target: `127.0.0.1:${workspace.server().port}`, serverName: 'localhost', cert: p.client.cert, key: p.client.key, ca: p.ca, ...overrides };
    },
    async configFile(nameOrTunnels: string | Record<string, unknown>[], content?: unknown): Promise<string> {
      const [name, body] = typeof nameOrTunnels === 'string'
        ? [nameOrTunnels, content]
        : [`tunnels-${Math.random().toString(36).slice(2)}.json`, { tunnels: nameOrTunnels }];
      const file = path.join(workspace.dir(), name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
      return file;
    },
  };
  return workspace;
}
