/**
 * The composition root: builds every service once, wires them through constructors, and hands
 * every disposable to `context.subscriptions`. Activation stays cheap: the certificate inspector
 * (and node-forge behind it) and the handshake doctor are loaded on first use.
 */
import * as vscode from 'vscode';
import { TunnelManager } from './core/manager';
import { ClientCertificates } from './vscode/clientCertificates';
import { registerCommands } from './vscode/commands';
import { ConnectionTests } from './vscode/connectionTests';
import { DemoTarget } from './vscode/demo';
import { Notifier } from './vscode/notifier';
import { ReportDocuments } from './vscode/reportDocuments';
import { Passphrases } from './vscode/secrets';
import { TunnelSettings } from './vscode/settings';
import { SettingsProblems } from './vscode/settingsProblems';
import { TunnelPorts } from './vscode/ports';
import { TunnelTerminals } from './vscode/terminal';
import { TunnelStatusBar } from './vscode/statusBar';
import { TunnelTreeProvider } from './vscode/tunnelTree';

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
}

/** Set while active: deactivate() returns its promise so tunnels drain before the host exits. */
let shutdown: (() => Promise<void>) | undefined;

export function activate(context: vscode.ExtensionContext): TestApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('mTLS Tunnels', { log: true });
  const notifier = new Notifier(log);
  const passphrases = new Passphrases(context.secrets, context.globalState, log);
  const manager = new TunnelManager({ logger: log, passphraseFor: (config) => passphrases.forTunnel(config) });
  const certificates = new ClientCertificates(passphrases);
  const tests = new ConnectionTests(passphrases, log);
  const documents = new ReportDocuments();
  const settings = new TunnelSettings(manager, log, notifier);
  const tree = new TunnelTreeProvider(manager, certificates, tests);
  const view = vscode.window.createTreeView('mtlsTunnels.tunnels', { treeDataProvider: tree });
  const statusBar = new TunnelStatusBar(manager, certificates);
  const demo = new DemoTarget(context.globalStorageUri.fsPath, context.globalState, manager, tests, log);
  const ports = new TunnelPorts(manager, demo.port, notifier, context.globalState);
  context.subscriptions.push(new SettingsProblems(settings, manager, tree, notifier, context.globalStorageUri), new TunnelTerminals(manager, notifier), ports);

  // A wrong stored passphrase is forgotten, so the next start asks again instead of failing forever.
  const onDiagnosis = (name: string, d: { code: string }) => {
    const entry = manager.entry(name);
    if (entry && d.code === 'WRONG_PASSPHRASE') void passphrases.forget(entry.config);
  };
  manager.on('diagnosis', onDiagnosis);
  // The activity bar shows how many tunnels are in error.
  const updateBadge = () => {
    const failed = manager.entries().filter((e) => e.state === 'error').length;
    view.badge = failed ? { value: failed, tooltip: `${failed} tunnel${failed === 1 ? '' : 's'} in error` } : undefined;
  };
  manager.on('changed', updateBadge);

  context.subscriptions.push(
    log, documents, certificates, tests, settings, tree, view, statusBar, demo,
    ...registerCommands({ manager, settings, passphrases, certificates, tests, documents, tree, notifier, log, demo }),
    settings.onDidApply((applied) => {
      tests.forget([...applied.removed, ...applied.changed]);
      // Tunnels marked autoStart start when they appear: at activation, when trust is granted,
      // when a teammate's settings add one. The manager itself restarts changed running ones.
      const autoStart = applied.added.filter((n) => applied.tunnels.find((t) => t.name === n)?.autoStart);
      if (autoStart.length && vscode.workspace.isTrusted) {
        void manager.startAll(autoStart).then((failures) => notifier.startFailures(failures));
      }
    }),
    {
      dispose: () => {
        manager.off('diagnosis', onDiagnosis);
        manager.off('changed', updateBadge);
        void manager.dispose();
      },
    },
  );

  settings.apply('activated');
  shutdown = async () => {
    await Promise.all([manager.dispose(), demo.stop()]);
  };
  const activationMs = Math.round((performance.now() - started) * 10) / 10;
  log.debug(`activated in ${activationMs} ms`);

  return {
    manager,
    tree,
    view,
    statusBarText: () => statusBar.text,
    notifications: notifier.shown,
    activationMs,
    notifier,
    ports,
  };
}

export function deactivate(): Promise<void> | undefined {
  const done = shutdown?.();
  shutdown = undefined;
  return done;
}
