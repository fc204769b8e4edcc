/**
 * The Tunnels view: one item per tunnel (grouped by workspace folder when there are several),
 * under it the live connections and the certificates in play. Items are small TreeItem
 * subclasses whose `contextValue` carries the state the menus in package.json match on
 * (`tunnel:running`, `certificate:client`, …). Everything shown comes from the manager's entries.
 */
import * as vscode from 'vscode';
import { formatEndpoint } from '../core/config/model';
import { formatDiagnosis } from '../core/diagnostics/diagnosis';
import { TunnelEntry, TunnelManager } from '../core/manager';
import { ConnectionSnapshot } from '../core/tunnel/connection';
import { TunnelState } from '../core/tunnel/tunnel';
import { ClientCertificate, ClientCertificates } from './clientCertificates';
import { ConnectionTests } from './connectionTests';
import { listenAddress } from './clientCommands';

export type TunnelNode = FolderItem | TunnelItem | ConnectionItem | CertificateItem;

const STATE_ICONS: Record<TunnelState, vscode.ThemeIcon> = {
  stopped: new vscode.ThemeIcon('circle-large-outline', new vscode.ThemeColor('disabledForeground')),
  starting: new vscode.ThemeIcon('loading~spin'),
  running: new vscode.ThemeIcon('pass-filled', new vscode.ThemeColor('testing.iconPassed')),
  stopping: new vscode.ThemeIcon('loading~spin'),
  error: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
};
const TROUBLED = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));

export class FolderItem extends vscode.TreeItem {
  constructor(readonly folder: string | undefined, label: string, readonly entries: TunnelEntry[]) {
    super(label, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `folder:${folder ?? ''}`;
    this.contextValue = 'folder';
    this.iconPath = new vscode.ThemeIcon(folder ? 'folder' : 'root-folder');
    const up = entries.filter((e) => e.state === 'running').length;
    this.description = `${up} of ${entries.length} up`;
  }
}

export class TunnelItem extends vscode.TreeItem {
  readonly tunnelName: string;

  constructor(readonly entry: TunnelEntry, readonly parent: FolderItem | undefined) {
    super(entry.config.name, vscode.TreeItemCollapsibleState.Collapsed);
    const { config, state } = entry;
    this.tunnelName = config.name;
    this.id = `tunnel:${config.name}`;
    this.contextValue = `tunnel:${state}`;
    this.description = `${formatEndpoint(listenAddress(entry))} → ${formatEndpoint(config.target)} · ${config.protocol}`;
    // Running, but connections fail: worth a different icon than a quiet, healthy tunnel.
    this.iconPath = state === 'running' && entry.lastDiagnosis?.severity === 'error' ? TROUBLED : STATE_ICONS[state];
    this.tooltip = tunnelTooltip(entry);
    this.accessibilityInformation = { label: `Tunnel ${config.name}, ${state}, ${this.description}` };
  }
}

export class ConnectionItem extends vscode.TreeItem {
  readonly tunnelName: string;

  constructor(readonly connection: ConnectionSnapshot, readonly parent: TunnelItem) {
    super(connection.client, vscode.TreeItemCollapsibleState.None);
    this.tunnelName = parent.tunnelName;
    this.id = `connection:${parent.tunnelName}:${connection.id}`;
    this.contextValue = `connection:${connection.state}`;
    this.iconPath = new vscode.ThemeIcon(connection.state === 'connecting' ? 'loading~spin' : 'plug');
    this.description = `${age(Date.now() - connection.openedAt)} · ↑ ${bytes(connection.bytesUp)} ↓ ${bytes(connection.bytesDown)}`;
    const h = connection.handshake;
    this.tooltip = `Connection #${connection.id} from ${connection.client}, opened ${new Date(connection.openedAt).toLocaleTimeString()}\n`
      + (h ? `${h.version}, ${h.cipher}${h.alpn ? `, ALPN ${h.alpn}` : ''}${h.resumed ? ', session resumed' : ''}` : 'TLS handshake under way');
  }
}

export class CertificateItem extends vscode.TreeItem {
  readonly tunnelName: string;

  constructor(readonly role: 'client' | 'server', label: string, readonly parent: TunnelItem, options: {
    description: string; tooltip: string; attention: 'none' | 'warning' | 'error';
  }) {
    super(label, vscode.TreeItemCollapsibleState.None);
    this.tunnelName = parent.tunnelName;
    this.id = `certificate:${parent.tunnelName}:${role}`;
    this.contextValue = `certificate:${role}${options.attention === 'none' ? '' : ':attention'}`;
    this.description = options.description;
    this.tooltip = options.tooltip;
    this.iconPath = options.attention === 'error' ? new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'))
      : options.attention === 'warning' ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'))
        : new vscode.ThemeIcon('verified');
    this.command = { title: 'Inspect Certificates', command: 'mtlsTunnels.inspectCertificates', arguments: [this] };
  }
}

export class TunnelTreeProvider implements vscode.TreeDataProvider<TunnelNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<TunnelNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private pending?: NodeJS.Timeout;
  /** While connections are open their age and bytes change without events: redraw every second. */
  private ticker?: NodeJS.Timeout;
  private readonly disposables: vscode.Disposable[] = [this.changed];

  constructor(
    private readonly manager: TunnelManager,
    private readonly certificates: ClientCertificates,
    private readonly tests: ConnectionTests,
  ) {
    const onChanged = () => this.refresh();
    manager.on('changed', onChanged);
    this.disposables.push(
      { dispose: () => manager.off('changed', onChanged) },
      certificates.onDidChange(onChanged),
      tests.onDidChange(onChanged),
      vscode.workspace.onDidChangeWorkspaceFolders(onChanged),
    );
  }

  /** Redraws soon; bursts of events (a connection storm) become one redraw. */
  refresh(): void {
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.changed.fire(undefined);
      const busy = this.manager.entries().some((e) => (e.snapshot?.openConnections ?? 0) > 0);
      if (busy && !this.ticker) this.ticker = setInterval(() => this.refresh(), 1000);
      if (!busy && this.ticker) {
        clearInterval(this.ticker);
        this.ticker = undefined;
      }
    }, 50);
  }

  getTreeItem(node: TunnelNode): vscode.TreeItem {
    return node;
  }

  getChildren(node?: TunnelNode): TunnelNode[] {
    if (!node) return this.roots();
    if (node instanceof FolderItem) return node.entries.map((e) => new TunnelItem(e, node));
    if (node instanceof TunnelItem) return this.tunnelChildren(node);
    return [];
  }

  getParent(node: TunnelNode): TunnelNode | undefined {
    return node instanceof FolderItem ? undefined : node.parent;
  }

  /** The tunnel's item as the tree shows it now (tests, reveal). */
  tunnelItem(name: string): TunnelItem | undefined {
    for (const root of this.roots()) {
      if (root instanceof TunnelItem && root.tunnelName === name) return root;
      if (root instanceof FolderItem) {
        const item = this.getChildren(root).find((t) => t instanceof TunnelItem && t.tunnelName === name);
        if (item) return item as TunnelItem;
      }
    }
    return undefined;
  }

  private roots(): TunnelNode[] {
    const entries = this.manager.entries();
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length <= 1) return entries.map((e) => new TunnelItem(e, undefined));
    const groups = new Map<string | undefined, TunnelEntry[]>();
    for (const e of entries) {
      const key = folders.some((f) => f.uri.fsPath === e.config.folder) ? e.config.folder : undefined;
      groups.set(key, [...(groups.get(key) ?? []), e]);
    }
    const items: FolderItem[] = [];
    if (groups.has(undefined)) items.push(new FolderItem(undefined, 'Workspace', groups.get(undefined)!));
    for (const f of folders) {
      const group = groups.get(f.uri.fsPath);
      if (group) items.push(new FolderItem(f.uri.fsPath, f.name, group));
    }
    return items;
  }

  private tunnelChildren(item: TunnelItem): TunnelNode[] {
    const entry = this.manager.entry(item.tunnelName);
    if (!entry) return [];
    const live = entry.state === 'running' || entry.state === 'stopping' ? entry.snapshot?.connections ?? [] : [];
    const children: TunnelNode[] = live.map((c) => new ConnectionItem(c, item));
    const client = clientCertificateItem(this.certificates.get(entry.config), item);
    if (client) children.push(client);
    const server = this.tests.last(item.tunnelName)?.report.serverChain[0];
    if (server) {
      children.push(new CertificateItem('server', commonName(server.subject), item, {
        description: `server · ${daysLeft(server.daysLeft)} · from the last connection test`,
        tooltip: `Server certificate\nSubject: ${server.subject}\nIssuer: ${server.issuer}\nValid: ${server.validFrom.slice(0, 10)} → ${server.validTo.slice(0, 10)}\nSANs: ${server.subjectAltNames.join(', ') || 'none'}`,
        attention: server.daysLeft < 0 ? 'error' : server.daysLeft <= 14 ? 'warning' : 'none',
      }));
    }
    return children;
  }

  dispose(): void {
    clearTimeout(this.pending);
    clearInterval(this.ticker);
    for (const d of this.disposables) d.dispose();
  }
}

function clientCertificateItem(cert: ClientCertificate | undefined, parent: TunnelItem): CertificateItem | undefined {
  if (!cert) return undefined;
  switch (cert.kind) {
    case 'locked':
      return new CertificateItem('client', 'Client certificate', parent, {
        description: 'PKCS#12 · locked until its passphrase is entered', tooltip: cert.file, attention: 'none',
      });
    case 'unreadable':
      return new CertificateItem('client', 'Client certificate', parent, {
        description: 'cannot be read', tooltip: cert.message, attention: 'error',
      });
    case 'certificate': {
      const s = cert.summary;
      const when = s.status === 'not yet valid' ? `not valid until ${s.validFrom.slice(0, 10)}` : daysLeft(s.daysLeft);
      return new CertificateItem('client', s.commonName ?? s.subject, parent, {
        description: `client · ${when}`,
        tooltip: `Client certificate ${cert.file}\nSubject: ${s.subject}\nIssuer: ${s.issuer}\nValid: ${s.validFrom.slice(0, 10)} → ${s.validTo.slice(0, 10)} (${s.status})\nSHA-256: ${s.sha256Fingerprint}`,
        attention: s.status === 'valid' ? 'none' : s.status === 'expires soon' ? 'warning' : 'error',
      });
    }
  }
}

function tunnelTooltip(entry: TunnelEntry): vscode.MarkdownString {
  const { config, state, snapshot: s, lastDiagnosis } = entry;
  const md = new vscode.MarkdownString('', true);
  md.appendMarkdown(`**${escape(config.name)}** — ${state}\n\n`);
  md.appendMarkdown(`\`${formatEndpoint(listenAddress(entry))}\` → \`${formatEndpoint(config.target)}\` · ${config.protocol}, server name \`${escape(config.serverName)}\`\n\n`);
  // The proxy only ever as its redacted URL; with "env", where it came from or why it is not used.
  if (config.proxy) md.appendMarkdown(`Through the HTTP proxy \`${config.proxy.url}\`${config.proxy.source === 'settings' ? '' : ` (from ${escape(config.proxy.source)})`}\n\n`);
  else if (config.proxyBypass) md.appendMarkdown(`Direct, not through a proxy: ${escape(config.proxyBypass)}\n\n`);
  if (s) {
    const failed = Object.values(s.handshakesFailed).reduce((n, x) => n + (x ?? 0), 0);
    md.appendMarkdown(`Connections: ${s.openConnections} open, ${s.totalConnections} in all · ↑ ${bytes(s.bytesUp)} ↓ ${bytes(s.bytesDown)}\n\n`);
    md.appendMarkdown(`Handshakes: ${s.handshakesOk} ok, ${failed} failed\n\n`);
    const h = s.lastHandshake;
    if (h) md.appendMarkdown(`Last handshake: ${h.version}, ${escape(h.cipher)}${h.alpn ? `, ALPN ${escape(h.alpn)}` : ''}${h.resumed ? ', session resumed' : ''}\n\n`);
    if (s.credentials) md.appendMarkdown(`Identity: ${escape(s.credentials)}\n\n`);
  }
  if (lastDiagnosis) {
    const icon = lastDiagnosis.severity === 'error' ? '$(error)' : lastDiagnosis.severity === 'warning' ? '$(warning)' : '$(info)';
    md.appendMarkdown(`---\n\n${icon} ${escape(formatDiagnosis({ ...lastDiagnosis, detail: undefined }))}\n`);
  }
  return md;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>$]/g, '\\$&');
}

function commonName(subject: string): string {
  return /(?:^|,\s*)CN=([^,]+)/.exec(subject)?.[1] ?? subject;
}

function daysLeft(days: number): string {
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return `${days} day${days === 1 ? '' : 's'} left`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function age(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
