/**
 * "Add Tunnel…": a guided flow of six steps (name, target, protocol guessed from the target's
 * port, identity (with an optional command that renews it), CA, where tools connect: addTunnelListen.ts), each with its counter and a Back button, the file steps
 * opening where the files are likely to be. It writes one valid entry into the settings: the
 * entry is checked by the core's parser first, so the flow never leaves settings the tunnel view
 * rejects. Every answer can also be passed in (`mtlsTunnels.addTunnel` with a draft): what is
 * given is not asked, which lets the demo, scripts and tests add tunnels without the quick picks.
 *
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { privateKeyBlock } from '../core/certs/privateKeys';
import { PROTOCOLS, Protocol } from '../core/config/model';
import { parseEndpoint, parseTunnels } from '../core/config/parse';
import { TunnelEntry, TunnelManager } from '../core/manager';
import { ListenAnswer, freePort, listenStep, prepareListen } from './addTunnelListen';
import { CommandError } from './notifier';
import { Answer, BACK, fileStep, inputStep, pickStep } from './quickSteps';
import { SECTION, TUNNELS, TunnelSettings } from './settings';

export interface TunnelDraft {
  name?: string;
  protocol?: Protocol;
  target?: string;
  cert?: string;
  key?: string;
  pfx?: string;
  /** A CA bundle path, or null for Node's trusted roots. */
  ca?: string | null;
  /** The command that renews the certificate (identityCommand), or null for none. */
  identityCommand?: string | null;
  /** The local port; 'free': the free port the flow would suggest; 'socket' (PostgreSQL): a unix socket in a folder only the user can use. */
  listen?: number | 'free' | 'socket';
  /** The workspace folder (path) whose settings get the entry, in a multi-root workspace. */
  folder?: string;
}

type ProtocolPick = vscode.QuickPickItem & { protocol: Protocol };
const PROTOCOL_PICKS: ProtocolPick[] = [
  { protocol: 'tls', label: 'tls', detail: 'TLS from the first byte: HTTP APIs, Redis, Kafka, gRPC, anything over TCP' },
  { protocol: 'postgres', label: 'postgres', detail: 'PostgreSQL: asks the server for TLS with an SSLRequest, as psql does' },
  { protocol: 'postgres-direct', label: 'postgres-direct', detail: 'PostgreSQL 17+ direct TLS (ALPN "postgresql")' },
  { protocol: 'mysql', label: 'mysql', detail: 'MySQL / MariaDB: TLS negotiated inside the MySQL handshake; run the client with --skip-ssl' },
];
/** Well-known server ports, so the protocol step starts on the likely answer. */
const PORT_GUESS: Record<number, { protocol: Protocol; what: string }> = {
  5432: { protocol: 'postgres', what: 'PostgreSQL' },
  3306: { protocol: 'mysql', what: 'MySQL / MariaDB' },
  6379: { protocol: 'tls', what: 'Redis' },
  6380: { protocol: 'tls', what: 'Redis' },
};
const CERT_EXTENSIONS = ['crt', 'pem', 'cer'];
const KEY_EXTENSIONS = ['key', 'pem'];
const TOTAL_STEPS = 6;

type Outcome = 'next' | 'back' | 'cancel' | 'skip';
interface Answers {
  name?: string;
  target?: string;
  protocol?: Protocol;
  kind?: 'pem' | 'pfx';
  cert?: string;
  key?: string;
  pfx?: string;
  ca?: string | null;
  identityCommand?: string | null;
  listen?: ListenAnswer;
}

/**
 * Asks for what `draft` lacks, writes the entry, and resolves with the tunnel once the manager
 * holds it (undefined when the user cancelled). The one way a tunnel is added: the view's "+"
 * and the demo both call it.
 */
export async function addTunnel(manager: TunnelManager, settings: TunnelSettings, draft: TunnelDraft = {}): Promise<TunnelEntry | undefined> {
  const destination = await chooseDestination(draft.folder);
  if (!destination) return undefined;
  const a: Answers = {
    name: draft.name, target: draft.target, protocol: draft.protocol, cert: draft.cert, key: draft.key, pfx: draft.pfx, ca: draft.ca,
    // A draft that brings its certificate (the demo) brings all it needs: no renewal step then.
    identityCommand: draft.identityCommand !== undefined ? draft.identityCommand : draft.cert ? null : undefined,
    kind: draft.pfx ? 'pfx' : draft.cert && draft.key ? 'pem' : undefined,
  };
  const taken = new Set(manager.names());
  const inUse = new Set(manager.entries().map((e) => e.config.listen.port ?? 0));
  const folderPath = destination.folder?.uri.fsPath;
  const title = (step: number) => `Add Tunnel (${step}/${TOTAL_STEPS})`;
  const outcome = <T>(answer: Answer<T>, keep: (v: T) => void): Outcome => {
    if (answer === undefined) return 'cancel';
    if (answer === BACK) return 'back';
    keep(answer);
    return 'next';
  };
  const given = new Set(Object.entries(a).filter(([, v]) => v !== undefined).map(([k]) => k));
  let suggested: number | undefined;

  // Each step asks one thing, or says 'skip' when the draft answered it or it does not apply.
  const steps: Array<(back: boolean) => Promise<Outcome>> = [
    async (back) => given.has('name') ? 'skip' : outcome(await inputStep({
      title: title(1), back, prompt: 'A name for the tunnel, shown in the tree and the log', placeholder: 'staging-db', value: a.name,
      validate: (v) => (!v.trim() ? 'Give the tunnel a name' : v !== v.trim() ? 'No spaces around the name' : taken.has(v) ? `A tunnel called "${v}" exists already` : undefined),
    }), (v) => { a.name = v; }),

    async (back) => given.has('target') ? 'skip' : outcome(await inputStep({
      title: title(2), back, prompt: 'The mTLS server, as host:port', placeholder: 'db.internal:5432', value: a.target,
      validate: (v) => {
        const parsed = parseEndpoint(v.trim());
        return typeof parsed === 'string' ? parsed : parsed.port === 0 ? 'The port must be from 1 to 65535' : undefined;
      },
    }), (v) => { a.target = v.trim(); }),

    async (back) => {
      if (given.has('protocol')) return 'skip';
      const port = targetPort(a.target);
      const guess = port !== undefined ? PORT_GUESS[port] : undefined;
      const items = PROTOCOL_PICKS.map((p) => (guess?.protocol === p.protocol ? { ...p, description: `${guess.what}, guessed from port ${port}` } : p));
      const current = a.protocol ?? guess?.protocol;
      return outcome(await pickStep({
        title: title(3), back, placeholder: 'How does TLS start with the server?', items, active: items.find((p) => p.protocol === current),
      }), (p) => { a.protocol = p.protocol; });
    },

    async (back) => given.has('kind') ? 'skip' : outcome(await pickStep({
      title: title(4), back, placeholder: 'Your client identity',
      items: [
        { label: '$(key) Certificate and key (PEM files)', identity: 'pem' as const },
        { label: '$(package) PKCS#12 bundle (.p12 / .pfx)', detail: 'Its passphrase is asked when the tunnel starts and kept in secret storage', identity: 'pfx' as const },
      ],
    }), (p) => { a.kind = p.identity; }),

    async (back) => a.kind !== 'pem' || given.has('cert') ? 'skip' : outcome(await fileStep({
      title: title(4), back, placeholder: 'Your client certificate (PEM, the chain may follow it): pick, browse, or type a path',
      dialogTitle: 'Your client certificate (PEM)', folder: a.cert ? path.dirname(a.cert) : folderPath, inWorkspace: true, extensions: CERT_EXTENSIONS,
      prefer: (f) => (stem(f) === 'client' ? 2 : /client/i.test(stem(f)) ? 1 : 0) - (/(^|[^a-z])ca([^a-z]|$)/i.test(stem(f)) ? 2 : 0),
    }), (f) => { a.cert = f; }),

    // The key usually sits beside the certificate, with the same name; a combined PEM holds it.
    async (back) => a.kind !== 'pem' || given.has('key') || holdsPrivateKey(a.cert) ? 'skip' : outcome(await fileStep({
      title: title(4), back, placeholder: `The private key of ${path.basename(a.cert ?? 'that certificate')} (PEM)`,
      dialogTitle: 'The private key of your client certificate (PEM)', folder: a.cert && path.dirname(a.cert), extensions: KEY_EXTENSIONS,
      prefer: (f) => (a.cert && stem(f) === stem(a.cert) ? 2 : 0) + (path.extname(f) === '.key' ? 1 : 0),
    }), (f) => { a.key = f; }),

    // Optional: short-lived certificates come from a CA's command-line client (step, vault).
    async (back) => a.kind !== 'pem' || given.has('identityCommand') ? 'skip' : outcome(await inputStep({
      title: title(4), back, prompt: 'Optional: a command that renews this certificate, run by your shell in the workspace folder with MTLS_CERT_FILE and MTLS_KEY_FILE set (it prints the PEM or writes those files). Leave empty for none.',
      placeholder: 'step ca certificate "$MTLS_TUNNEL_NAME" "$MTLS_CERT_FILE" "$MTLS_KEY_FILE" --force', value: a.identityCommand ?? '',
      validate: () => undefined,
    }), (v) => { a.identityCommand = v.trim() || null; }),

    async (back) => a.kind !== 'pfx' || given.has('pfx') ? 'skip' : outcome(await fileStep({
      title: title(4), back, placeholder: 'PKCS#12 bundle with your client certificate and key', dialogTitle: 'PKCS#12 bundle',
      folder: folderPath, extensions: ['p12', 'pfx'],
    }), (f) => { a.pfx = f; }),

    async (back) => {
      if (given.has('ca')) return 'skip';
      type CaPick = vscode.QuickPickItem & { own: boolean };
      const items: CaPick[] = [
        { label: '$(file) Choose a CA bundle…', own: true },
        { label: "$(globe) Trust the system's public CAs", detail: 'Only when the server has a certificate from a public CA', own: false },
      ];
      let choice: Answer<CaPick>;
      for (;;) {
        choice = await pickStep({ title: title(5), back, placeholder: 'Which CA signed the server certificate?', items, active: items[a.ca === null ? 1 : 0] });
        if (choice === undefined || choice === BACK || !choice.own) break;
        const identityFile = a.cert ?? a.pfx;
        const file = await fileStep({
          title: title(5), back: true, placeholder: 'The CA bundle (PEM) that signed the server certificate', dialogTitle: 'CA bundle (PEM)',
          folder: identityFile ? path.dirname(identityFile) : folderPath, extensions: CERT_EXTENSIONS,
          prefer: (f) => (stem(f).toLowerCase() === 'ca' ? 2 : /ca/i.test(stem(f)) ? 1 : 0) - (a.cert && path.resolve(f) === path.resolve(a.cert) ? 3 : 0),
        });
        if (file === undefined) return 'cancel';
        if (file !== BACK) {
          a.ca = file;
          return 'next';
        }
      }
      return outcome(choice, () => { a.ca = null; });
    },

    async (back) => {
      suggested ??= await freePort(a.protocol, inUse);
      const answer = await listenStep({ title: title(6), back, name: a.name!.trim(), protocol: a.protocol, value: a.listen, suggested, draft: draft.listen });
      if (draft.listen === undefined) return outcome(answer, (v) => { a.listen = v; });
      a.listen = answer as ListenAnswer;
      return 'skip';
    },
  ];

  // Back returns to the last step actually asked; steps answered by the draft are passed over both ways.
  const asked: number[] = [];
  for (let i = 0; i < steps.length;) {
    const result = await steps[i](asked.length > 0);
    if (result === 'cancel') return undefined;
    if (result === 'back') i = asked.pop()!;
    else {
      if (result === 'next') asked.push(i);
      i++;
    }
  }

  const identity = a.kind === 'pfx' ? { pfx: a.pfx } : { cert: a.cert, key: a.key };
  const entry: Record<string, unknown> = {
    name: a.name!.trim(),
    listen: a.listen,
    target: a.target!.trim(),
    protocol: a.protocol,
    ...Object.fromEntries(Object.entries({ ...identity, ca: a.ca ?? undefined }).filter(([, v]) => v).map(([k, v]) => [k, portablePath(v!, folderPath)])),
    ...(a.kind === 'pem' && a.identityCommand ? { identityCommand: a.identityCommand } : {}),
  };
  const check = parseTunnels([entry], { workspaceFolder: folderPath, userHome: os.homedir(), env: process.env });
  if (check.errors.length) throw new CommandError(`The new tunnel would not be valid: ${check.errors.join('; ')}.`);
  if (!a.protocol || !PROTOCOLS.includes(a.protocol)) throw new CommandError(`Unknown protocol "${String(a.protocol)}".`);

  await prepareListen(a.listen!);
  const existing = destination.current();
  await destination.configuration.update(TUNNELS, [...(Array.isArray(existing) ? existing : []), entry], destination.target);
  // The configuration change has reached this host by the time update() resolves (the change
  // event comes first on the same channel), so the settings service has applied it already;
  // applying once more costs nothing and makes sure.
  const name = entry.name as string;
  if (!manager.entry(name)) settings.apply('tunnel added');
  const added = manager.entry(name);
  if (!added) throw new CommandError(`Tunnel "${name}" was written to the settings, but the settings now in effect do not list it: another definition may override it. Open the settings to check.`, 'warning');
  return added;
}

function targetPort(target: string | undefined): number | undefined {
  const parsed = target ? parseEndpoint(target) : undefined;
  return parsed && typeof parsed !== 'string' ? parsed.port : undefined;
}

function stem(file: string): string {
  return path.basename(file, path.extname(file));
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

/** A certificate file that also holds its private key (a combined PEM): no key file to ask for. */
function holdsPrivateKey(file: string | undefined): boolean {
  try {
    return !!file && privateKeyBlock(fs.readFileSync(file, 'latin1')) !== undefined;
  } catch {
    return false;
  }
}
