/**
 * The composition root: builds every service once, wires them through constructors, and hands
 * every disposable to `context.subscriptions`. Activation stays cheap: the certificate inspector
 * (and node-forge behind it) and the handshake doctor are loaded on first use. The rules live in
 * the services: auto-start and restore in DesiredState, the badge in TunnelView, forgetting a
 * wrong passphrase in Passphrases. Shutdown has one path, `deactivate()`.
 */
import * as vscode from 'vscode';
import { TunnelManager } from './core/manager';
import { ClientCertificates } from './vscode/clientCertificates';
import { registerCommands } from './vscode/commands';
import { CutQuestion, answerCutQuestionsWith } from './vscode/confirmStop';
import { ConnectionTests } from './vscode/connectionTests';
import { DemoTarget } from './vscode/demoTarget';
import { DesiredState } from './vscode/desiredState';
import { FileMemento } from './vscode/fileMemento';
import { Notifier } from './vscode/notifier';
import { ShownStep, shownStep } from './vscode/quickSteps';
import { ReportDocuments } from './vscode/reportDocuments';
import { Passphrases } from './vscode/secrets';
import { TunnelSettings } from './vscode/settings';
import { SettingsProblems } from './vscode/settingsProblems';
import { TunnelPorts } from './vscode/ports';
import { TunnelTerminals } from './vscode/terminal';
import { TunnelStatusBar } from './vscode/statusBar';
import { TunnelTreeProvider } from './vscode/tunnelTree';
import { TunnelView } from './vscode/tunnelView';
import { GrantQuestion, WorkspaceGrants, answerGrantQuestionsWith } from './vscode/workspaceGrants';

/**
 * Returned by `activate` for the integration tests (test/vscode/suite), which read the tree and
 * the status bar through it. Not an API for other extensions.
 */
export interface TestApi {
  manager: TunnelManager;
  tree: TunnelTreeProvider;
  view: vscode.TreeView<unknown>;
  statusBarText(): string;
  /** Every message shown to the user, oldest first. */
  notifications: readonly string[];
  activationMs: number;
  notifier: Notifier;
  ports: TunnelPorts;
  /**
   * Only in ExtensionMode.Test, where VS Code refuses modal dialogs: answers the "connections
   * will be closed" question in place of the user (see confirmStop.ts).
   */
  answerCutQuestions?: (answer: (question: CutQuestion) => string | undefined) => vscode.Disposable;
  /** Only in ExtensionMode.Test: answers "allow for this workspace?" in place of the user (workspaceGrants.ts). */
  answerGrantQuestions?: (answer: (question: GrantQuestion) => string | undefined) => vscode.Disposable;
  /** The step of a guided flow (Add Tunnel) on screen now, if any. */
  quickStep(): ShownStep | undefined;
  /** Resolves once the tunnels that start by themselves at activation (autoStart, restore) were started. */
  settled: Promise<void>;
  /** The file that keeps what a reload restores, when the workspace has a storage folder. */
  stateFile?: string;
}

/** Set while active: deactivate() returns its promise so tunnels drain before the host exits. */
let shutdown: (() => Promise<void>) | undefined;

export function activate(context: vscode.ExtensionContext): TestApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('mTLS Tunnels', { log: true });
  const notifier = new Notifier(log);
  const passphrases = new Passphrases(context.secrets, context.globalState, log);
  // Restricted Mode reads no workspace tunnels at all; this also keeps any other tunnel's identityCommand from running there.
  const manager = new TunnelManager({ logger: log, passphraseFor: (config) => passphrases.forTunnel(config), runIdentityCommands: () => vscode.workspace.isTrusted });
  const certificates = new ClientCertificates(passphrases);
  const tests = new ConnectionTests(passphrases, log);
  const documents = new ReportDocuments();
  const grants = new WorkspaceGrants(context.workspaceState, log);
  const settings = new TunnelSettings(manager, log, notifier, grants);
  const tree = new TunnelTreeProvider(manager, certificates, tests);
  const tunnelView = new TunnelView(manager, tree);
  const statusBar = new TunnelStatusBar(manager, certificates);
  // What a reload must bring back is on disk when it changes, not when the workbench flushes.
  const workspaceState = FileMemento.forWorkspace(context);
  const demo = new DemoTarget(context.globalStorageUri.fsPath, FileMemento.forEveryWindow(context), workspaceState, manager, tests, log);
  const desired = new DesiredState(manager, settings, demo, workspaceState, notifier, log);
  const ports = new TunnelPorts(manager, demo.port, notifier, context.globalState);
  context.subscriptions.push(new SettingsProblems(settings, manager, tree, notifier, context.globalStorageUri), new TunnelTerminals(manager, notifier), ports);

  context.subscriptions.push(
    log, documents, certificates, tests, grants, settings, tree, tunnelView, statusBar, demo, desired,
    passphrases.forgetWrongOnes(manager),
    ...registerCommands({ manager, settings, passphrases, certificates, tests, documents, tree, notifier, log, demo, grants }),
    settings.onDidApply((applied) => tests.forget([...applied.removed, ...applied.changed])),
  );

  settings.apply('activated');
  // The one shutdown path: tunnels drain and the demo server closes, the wanted set kept for the next session.
  shutdown = async () => {
    await Promise.all([manager.dispose(), demo.shutdown()]);
  };
  const activationMs = Math.round((performance.now() - started) * 10) / 10;
  log.debug(`activated in ${activationMs} ms`);

  return {
    manager,
    tree,
    view: tunnelView.view,
    statusBarText: () => statusBar.text,
    notifications: notifier.shown,
    activationMs,
    notifier,
    ports,
    answerCutQuestions: context.extensionMode === vscode.ExtensionMode.Test ? answerCutQuestionsWith : undefined,
    answerGrantQuestions: context.extensionMode === vscode.ExtensionMode.Test ? answerGrantQuestionsWith : undefined,
    quickStep: shownStep,
    settled: desired.settled,
    stateFile: workspaceState instanceof FileMemento ? workspaceState.file : undefined,
  };
}

export function deactivate(): Promise<void> | undefined {
  const done = shutdown?.();
  shutdown = undefined;
  return done;
}
