// What the feature tests share: the extension's test API, a throwaway PKI with a real mTLS echo
// server, settings written to the workspace and restored in `finally`, and plain `net` clients.
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'mocha';
import * as vscode from 'vscode';
import type { TestApi } from '../../../src/extension';
import { DemoServer, startDemoServer } from '../../../src/demo/demoServer';
import { ThrowawayPki, createThrowawayPki } from '../../../src/core/pki/testPki';

export const EXTENSION_ID = 'mtls-tunnels.mtls-tunnels';

export async function extensionApi(): Promise<TestApi> {
  const extension = vscode.extensions.getExtension<TestApi>(EXTENSION_ID);
  if (!extension) throw new Error(`${EXTENSION_ID} is not loaded`);
  return extension.activate();
}

export interface Backend {
  pki: ThrowawayPki;
  /** The demo mTLS echo server, trusting the PKI's CA. */
  server: DemoServer;
}

/** Before the file's first test: a PKI in a temp folder and an echo server; both gone after the last. */
export function withBackend(): () => Backend {
  let backend: Backend | undefined;
  let dir: string | undefined;
  before(async function () {
    this.timeout(30_000);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mtls-vscode-pki-'));
    const pki = await createThrowawayPki(dir);
    backend = { pki, server: await startDemoServer(pki) };
  });
  after(async () => {
    await backend?.server.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (!backend) throw new Error('withBackend(): the backend is made in a before() hook');
    return backend;
  };
}

/** A settings entry for a tunnel to the backend's echo server, on any free local port. */
export function tunnelEntry(b: Backend, name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name, listen: 0, target: `127.0.0.1:${b.server.port}`, serverName: 'localhost',
    cert: b.pki.client.cert, key: b.pki.client.key, ca: b.pki.ca, connectTimeoutMs: 3000,
    ...overrides,
  };
}

/**
 * Writes `mtlsTunnels.tunnels` into the workspace settings, waits until the extension applied
 * them, runs `body`, then stops every tunnel and restores the previous value, whatever happened.
 */
export async function withTunnels<T>(entries: unknown[], body: (api: TestApi) => Promise<T>, valid?: string[]): Promise<T> {
  const api = await extensionApi();
  const config = vscode.workspace.getConfiguration('mtlsTunnels');
  const previous = config.inspect('tunnels')?.workspaceValue;
  try {
    await setTunnels(entries, valid);
    return await body(api);
  } finally {
    // The manager, not the command: cleanup must not wait on the "connections will be closed" question.
    await api.manager.stopAll();
    await setTunnels(previous);
  }
}

/**
 * Updates the workspace setting and waits until the manager holds exactly the `valid` names
 * (by default every entry's name).
 */
export async function setTunnels(entries: unknown, valid?: string[]): Promise<void> {
  const api = await extensionApi();
  await vscode.workspace.getConfiguration('mtlsTunnels').update('tunnels', entries, vscode.ConfigurationTarget.Workspace);
  const expected = (valid ?? (Array.isArray(entries) ? entries.map((e) => String((e as { name?: unknown }).name)) : [])).sort();
  await waitFor(() => JSON.stringify(api.manager.names().sort()) === JSON.stringify(expected), `the tunnels to be [${expected.join(', ')}]`);
}

export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Resolves once the tunnel counts no open connection: a client closed here is still open on the
 * tunnel's side for a moment, and Stop asks for confirmation while connections are open.
 */
export function noConnections(api: TestApi, name: string): Promise<true> {
  return waitFor(() => (api.manager.entry(name)?.snapshot?.openConnections ?? 0) === 0, `tunnel ${name} to have no open connection`);
}

/** The local port a running tunnel listens on. */
export function portOf(api: TestApi, name: string): number {
  const address = api.manager.tunnel(name)?.address();
  if (!address) throw new Error(`tunnel ${name} is not listening`);
  return address.port;
}

/** A plain TCP client of a tunnel: sends text and waits for the echo. */
export class EchoClient {
  private received = '';
  private waiting?: { length: number; resolve: (s: string) => void };

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.received += chunk;
      this.check();
    });
  }

  static connect(port: number): Promise<EchoClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new EchoClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Local `address:port`, as the tree shows the connection. */
  get localAddress(): string {
    return `${this.socket.localAddress}:${this.socket.localPort}`;
  }

  async echo(text: string, timeoutMs = 5000): Promise<string> {
    this.received = '';
    const answer = new Promise<string>((resolve) => {
      this.waiting = { length: Buffer.byteLength(text), resolve };
    });
    this.socket.write(text);
    this.check();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no echo of ${JSON.stringify(text)} within ${timeoutMs} ms (got ${JSON.stringify(this.received)})`)), timeoutMs);
    });
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private check(): void {
    if (this.waiting && Buffer.byteLength(this.received) >= this.waiting.length) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve(this.received);
    }
  }
}

/** Resolves with the connect error code (ECONNREFUSED when nothing listens), or 'connected'. */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}
