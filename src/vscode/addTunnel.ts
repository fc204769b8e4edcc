/**
 * "Add Tunnel…": a short guided flow (name, protocol, target, identity, CA, local port) that
 * writes one valid entry into the workspace settings. The entry is checked by the core's parser
 * before it is written, so the flow can never leave settings that the tunnel view rejects.
 * Every answer can also be passed in (`mtlsTunnels.addTunnel` with a draft): what is given is
 * not asked, which lets scripts and tests add tunnels without the quick picks.
 */
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PROTOCOLS, Protocol } from '../core/config/model';
import { parseEndpoint, parseTunnels } from '../core/config/parse';
import { TunnelManager } from '../core/manager';
import { CommandError } from './notifier';
import { SECTION, TUNNELS } from './settings';

export interface TunnelDraft {
  name?: string;
  protocol?: Protocol;
  target?: string;
  cert?: string;
  key?: string;
  pfx?: string;
  /** A CA bundle path, or null for Node's trusted roots. */
  ca?: string | null;
  /** The local port; 'free': the free port the flow would suggest, without asking. */
  listen?: number | 'free';
  /** The workspace folder (path) whose settings get the entry, in a multi-root workspace. */
  folder?: string;
}

const PROTOCOL_PICKS: Array<vscode.QuickPickItem & { protocol: Protocol }> = [
  { protocol: 'tls', label: 'tls', detail: 'TLS from the first byte: HTTP APIs, Redis, Kafka, gRPC, anything over TCP' },
  { protocol: 'postgres', label: 'postgres', detail: 'PostgreSQL: asks the server for TLS with an SSLRequest, as psql does' },
  { protocol: 'postgres-direct', label: 'postgres-direct', detail: 'PostgreSQL 17+ direct TLS (ALPN "postgresql")' },
  { protocol: 'mysql', label: 'mysql', detail: 'MySQL / MariaDB: TLS negotiated inside the MySQL handshake; run the client with --skip-ssl' },
];
/** Local ports people expect for each protocol; any free port when taken. */
const PREFERRED_PORT: Partial<Record<Protocol, number>> = { postgres: 15432, 'postgres-direct': 15432, mysql: 13306 };

export async function addTunnel(manager: TunnelManager, draft: TunnelDraft = {}): Promise<string | undefined> {
  const destination = await chooseDestination(draft.folder);
  if (!destination) return undefined;
  const title = (step: number) => `Add Tunnel (${step}/6)`;
  const taken = new Set(manager.names());

  const name = draft.name ?? await vscode.window.showInputBox({
    title: title(1), prompt: 'A name for the tunnel, shown in the tree and the log', placeHolder: 'staging-db', ignoreFocusOut: true,
    validateInput: (v) => (!v.trim() ? 'Give the tunnel a name' : v !== v.trim() ? 'No spaces around the name' : taken.has(v) ? `A tunnel called "${v}" exists already` : undefined),
  });
  if (name === undefined) return undefined;

  const protocol = draft.protocol ?? (await vscode.window.showQuickPick(PROTOCOL_PICKS, {
    title: title(2), placeHolder: 'How does TLS start with the server?', ignoreFocusOut: true,
  }))?.protocol;
  if (!protocol || !PROTOCOLS.includes(protocol)) return undefined;

  const target = draft.target ?? await vscode.window.showInputBox({
    title: title(3), prompt: 'The mTLS server, as host:port', placeHolder: protocol.startsWith('postgres') ? 'db.internal:5432' : 'api.internal:443', ignoreFocusOut: true,
    validateInput: (v) => {
      const parsed = parseEndpoint(v.trim());
      return typeof parsed === 'string' ? parsed : parsed.port === 0 ? 'The port must be from 1 to 65535' : undefined;
    },
  });
  if (target === undefined) return undefined;

  const identity = await chooseIdentity(draft, title(4));
  if (!identity) return undefined;

  let ca: string | undefined;
  if (draft.ca !== undefined) ca = draft.ca ?? undefined;
  else {
    const choice = await vscode.window.showQuickPick(
      [{ label: '$(file) Choose a CA bundle…', pick: true }, { label: "$(globe) Trust the system's public CAs", detail: 'Only when the server has a certificate from a public CA', pick: false }],
      { title: title(5), placeHolder: 'Which CA signed the server certificate?', ignoreFocusOut: true },
    );
    if (!choice) return undefined;
    if (choice.pick) {
      ca = await pickFile('CA bundle (PEM) that signed the server certificate', { Certificates: ['crt', 'pem', 'cer'] });
      if (!ca) return undefined;
    }
  }

  const inUse = new Set(manager.entries().map((e) => e.config.listen.port ?? 0));
  const suggested = await freePort(PREFERRED_PORT[protocol], inUse);
  let listen = draft.listen === 'free' ? suggested : draft.listen;
  if (listen === undefined) {
    const answer = await vscode.window.showInputBox({
      title: title(6), prompt: 'The local port your tools connect to (on 127.0.0.1); this one is free now', value: String(suggested), ignoreFocusOut: true,
      validateInput: (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : 'A port from 1 to 65535'),
    });
    if (answer === undefined) return undefined;
    listen = Number(answer);
  }

  const folderPath = destination.folder?.uri.fsPath;
  const entry: Record<string, unknown> = {
    name: name.trim(),
    listen,
    target: target.trim(),
    protocol,
    ...Object.fromEntries(Object.entries({ ...identity, ca }).filter(([, v]) => v).map(([k, v]) => [k, portablePath(v!, folderPath)])),
  };
  const check = parseTunnels([entry], { workspaceFolder: folderPath, userHome: os.homedir(), env: process.env });
  if (check.errors.length) throw new CommandError(`The new tunnel would not be valid: ${check.errors.join('; ')}.`);

  const existing = destination.current();
  await destination.configuration.update(TUNNELS, [...(Array.isArray(existing) ? existing : []), entry], destination.target);
  return entry.name as string;
}

interface Destination {
  configuration: vscode.WorkspaceConfiguration;
  target: vscode.ConfigurationTarget;
  folder?: vscode.WorkspaceFolder;
  /** The entries already written at that level (not merged with others). */
  current(): unknown;
}

/** Workspace settings for one folder; that folder's settings in a multi-root workspace; user settings without a folder. */
async function chooseDestination(folderPath: string | undefined): Promise<Destination | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    const configuration = vscode.workspace.getConfiguration(SECTION);
    return { configuration, target: vscode.ConfigurationTarget.Global, current: () => configuration.inspect(TUNNELS)?.globalValue };
  }
  if (folders.length === 1) {
    const configuration = vscode.workspace.getConfiguration(SECTION, folders[0].uri);
    return { configuration, target: vscode.ConfigurationTarget.Workspace, folder: folders[0], current: () => configuration.inspect(TUNNELS)?.workspaceValue };
  }
  const folder = folderPath
    ? folders.find((f) => f.uri.fsPath === folderPath)
    : await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Which folder is the tunnel for?', ignoreFocusOut: true });
  if (!folder) return undefined;
  const configuration = vscode.workspace.getConfiguration(SECTION, folder.uri);
  return { configuration, target: vscode.ConfigurationTarget.WorkspaceFolder, folder, current: () => configuration.inspect(TUNNELS)?.workspaceFolderValue };
}

async function chooseIdentity(draft: TunnelDraft, title: string): Promise<{ cert?: string; key?: string; pfx?: string } | undefined> {
  if (draft.pfx) return { pfx: draft.pfx };
  if (draft.cert && draft.key) return { cert: draft.cert, key: draft.key };
  const kind = await vscode.window.showQuickPick(
    [
      { label: '$(key) Certificate and key (PEM files)', pfx: false },
      { label: '$(package) PKCS#12 bundle (.p12 / .pfx)', detail: 'Its passphrase is asked when the tunnel starts and kept in secret storage', pfx: true },
    ],
    { title, placeHolder: 'Your client identity', ignoreFocusOut: true },
  );
  if (!kind) return undefined;
  if (kind.pfx) {
    const pfx = await pickFile('PKCS#12 bundle with your client certificate and key', { 'PKCS#12': ['p12', 'pfx'] });
    return pfx ? { pfx } : undefined;
  }
  const cert = draft.cert ?? await pickFile('Your client certificate (PEM, the chain may follow it)', { Certificates: ['crt', 'pem', 'cer'] });
  if (!cert) return undefined;
  const key = draft.key ?? await pickFile('The private key of that certificate (PEM)', { Keys: ['key', 'pem'] });
  return key ? { cert, key } : undefined;
}

async function pickFile(title: string, filters: Record<string, string[]>): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({
    title, openLabel: 'Select', canSelectMany: false, filters: { ...filters, 'All files': ['*'] },
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  return picked?.[0]?.fsPath;
}

/** `${workspaceFolder}/…` or `${userHome}/…` where possible, so teammates can share the entry. */
function portablePath(file: string, folder: string | undefined): string {
  const under = (root: string) => {
    const rel = path.relative(root, file);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : undefined;
  };
  const inFolder = folder ? under(folder) : undefined;
  if (inFolder) return `\${workspaceFolder}/${inFolder}`;
  const inHome = under(os.homedir());
  return inHome ? `\${userHome}/${inHome}` : file;
}

/** The preferred port if nothing listens there, else whatever port the system hands out. */
async function freePort(preferred: number | undefined, taken: Set<number>): Promise<number> {
  if (preferred && !taken.has(preferred) && (await tryListen(preferred)) !== undefined) return preferred;
  for (let i = 0; i < 5; i++) {
    const port = await tryListen(0);
    if (port !== undefined && !taken.has(port)) return port;
  }
  throw new CommandError('Found no free local port for the tunnel.');
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host: '127.0.0.1', port }, () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}
