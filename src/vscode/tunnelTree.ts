/**
 * The Tunnels view: one item per tunnel (grouped by workspace folder when there are several),
 * under it the live connections and the certificates in play; settings entries the parser
 * refused stay as error items with their problems as children. Everything shown comes from the
 * manager's entries. Under traffic only what changed is redrawn: a tunnel's event refreshes that
 * tunnel's row (bursts coalesce), the one-second tick refreshes only connection rows, and
 * tooltips are built on hover, so an open tooltip is not swept away by a redraw of the tree.
 */
import * as vscode from 'vscode';
import { TunnelConfig } from '../core/config/model';
import { TunnelEntry, TunnelManager } from '../core/manager';
import { IdentityStatus } from '../core/tls/renewal';
import { renewalWords } from '../core/tls/renewalWords';
import { ClientCertificate, ClientCertificates } from './clientCertificates';
import { ConnectionTests } from './connectionTests';
import {
  CertificateItem, CertificateView, ConnectionItem, FolderItem, InvalidEntry, InvalidItem, ProblemItem, TunnelItem, TunnelNode,
} from './tunnelTreeItems';

export { CertificateItem, ConnectionItem, FolderItem, InvalidItem, ProblemItem, TunnelItem };
export type { InvalidEntry, TunnelNode };

/** How long a burst of events is gathered into one redraw. */
const COALESCE_MS = 50;

export class TunnelTreeProvider implements vscode.TreeDataProvider<TunnelNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<TunnelNode | TunnelNode[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private pending?: NodeJS.Timeout;
  private pendingAll = false;
  private readonly pendingNames = new Set<string>();
  /** While connections are open their age and bytes change without events: their rows redraw every second. */
  private ticker?: NodeJS.Timeout;
  private readonly tunnels = new Map<string, TunnelItem>();
  private readonly folders = new Map<string, FolderItem>();
  private readonly connections = new Map<string, ConnectionItem>();
  private readonly certificateItems = new Map<string, CertificateItem>();
  private invalid: InvalidEntry[] = [];
  private idle: (() => void)[] = [];
  private invalidItems: InvalidItem[] = [];
  private readonly disposables: vscode.Disposable[] = [this.changed];

  constructor(
    private readonly manager: TunnelManager,
    private readonly certificates: ClientCertificates,
    private readonly tests: ConnectionTests,
  ) {
    const onChanged = (name: string | undefined) => (name === undefined ? this.refresh() : this.refreshTunnel(name));
    manager.on('changed', onChanged);
    this.disposables.push(
      { dispose: () => manager.off('changed', onChanged) },
      certificates.onDidChange(onChanged),
      tests.onDidChange(onChanged),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
    );
  }

  /** Redraws the whole tree soon (the set of tunnels changed). */
  refresh(): void {
    this.pendingAll = true;
    this.schedule();
  }

  /** Redraws one tunnel's row (and its children) soon; a burst of events becomes one redraw. */
  refreshTunnel(name: string): void {
    this.pendingNames.add(name);
    this.schedule();
  }

  /** The settings entries the parser refused; they show as error items. */
  setInvalidEntries(entries: InvalidEntry[]): void {
    if (JSON.stringify(entries.map((e) => [e.key, e.label, e.problems.map((p) => p.message)])) === JSON.stringify(this.invalid.map((e) => [e.key, e.label, e.problems.map((p) => p.message)]))) return;
    this.invalid = entries;
    this.refresh();
  }

  getTreeItem(node: TunnelNode): vscode.TreeItem {
    return node;
  }

  /** Tooltips on hover: built from the state at that moment, never dropped by a refresh that already happened. */
  resolveTreeItem(item: vscode.TreeItem, node: TunnelNode): vscode.TreeItem {
    const tooltip = this.tooltipOf(node);
    if (tooltip !== undefined) item.tooltip = tooltip;
    return item;
  }

  /** What the row's tooltip says now (the view asks through resolveTreeItem; tests ask here). */
  tooltipOf(node: TunnelNode): string | vscode.MarkdownString | undefined {
    if (node instanceof TunnelItem) {
      const entry = this.manager.entry(node.tunnelName);
      if (entry) node.entry = entry;
      return node.buildTooltip();
    }
    if (node instanceof ConnectionItem || node instanceof CertificateItem) return node.buildTooltip();
    return typeof node.tooltip === 'string' || node.tooltip instanceof vscode.MarkdownString ? node.tooltip : undefined;
  }

  getChildren(node?: TunnelNode): TunnelNode[] {
    if (!node) return this.roots();
    if (node instanceof FolderItem) return node.entries.map((e) => this.tunnelItemFor(e, node));
    if (node instanceof TunnelItem) return this.tunnelChildren(node);
    if (node instanceof InvalidItem) return node.invalid.problems.map((p, i) => new ProblemItem(p, node, i));
    return [];
  }

  getParent(node: TunnelNode): TunnelNode | undefined {
    return node instanceof FolderItem ? undefined : node.parent;
  }

  /** The tunnel's item as the tree shows it now (tests, reveal). */
  tunnelItem(name: string): TunnelItem | undefined {
    const entry = this.manager.entry(name);
    if (!entry) return undefined;
    this.roots();
    const item = this.tunnels.get(name);
    return item?.update(entry);
  }

  /** The error items of refused entries, as the tree shows them now. */
  invalidItemsNow(): InvalidItem[] {
    this.roots();
    return this.invalidItems;
  }

  /** Resolves once the redraw gathered so far (if any) has been sent to the view. */
  whenIdle(): Promise<void> {
    return this.pending ? new Promise((resolve) => this.idle.push(resolve)) : Promise.resolve();
  }

  private schedule(): void {
    this.pending ??= setTimeout(() => this.flush(), COALESCE_MS);
  }

  private flush(): void {
    this.pending = undefined;
    const names = [...this.pendingNames];
    this.pendingNames.clear();
    const rows: TunnelNode[] = [];
    const all = this.pendingAll;
    this.pendingAll = false;
    if (!all) {
      for (const name of names) {
        const item = this.tunnels.get(name);
        const entry = this.manager.entry(name);
        // Not drawn yet (nothing to redraw), or removed (the set's own event redraws the tree).
        if (!item || !entry) continue;
        const folder = item.parent;
        const before = folder?.description;
        item.update(entry);
        if (folder) {
          folder.update(this.manager.entries().filter((e) => folder.entries.some((f) => f.config.name === e.config.name)));
          if (folder.description !== before) rows.push(folder);
        }
        rows.push(item);
      }
    }
    if (all) {
      this.changed.fire(undefined);
    } else if (rows.length) {
      this.changed.fire(rows);
    }
    this.tick();
    for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Starts or stops the one-second tick that redraws connection rows (age, bytes). */
  private tick(): void {
    const busy = this.manager.entries().some((e) => (e.counts?.openConnections ?? 0) > 0);
    if (busy && !this.ticker) this.ticker = setInterval(() => this.tickConnections(), 1000);
    if (!busy && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  private tickConnections(): void {
    const rows: ConnectionItem[] = [];
    for (const item of this.tunnels.values()) {
      const snapshot = this.manager.entry(item.tunnelName)?.snapshot;
      for (const c of snapshot?.connections ?? []) {
        const row = this.connections.get(`${item.tunnelName}:${c.id}`);
        if (row) rows.push(row.update(c));
      }
    }
    if (rows.length) {
      this.changed.fire(rows);
    }
    this.tick();
  }

  private tunnelItemFor(entry: TunnelEntry, parent: FolderItem | undefined): TunnelItem {
    const existing = this.tunnels.get(entry.config.name);
    if (existing && existing.parent === parent) return existing.update(entry);
    const item = new TunnelItem(entry, parent);
    this.tunnels.set(entry.config.name, item);
    return item;
  }

  private roots(): TunnelNode[] {
    const entries = this.manager.entries();
    const names = new Set(entries.map((e) => e.config.name));
    for (const name of this.tunnels.keys()) if (!names.has(name)) this.tunnels.delete(name);
    const folders = vscode.workspace.workspaceFolders ?? [];
    this.invalidItems = this.invalid.map((e) => new InvalidItem(e, undefined));
    if (folders.length <= 1) return [...entries.map((e) => this.tunnelItemFor(e, undefined)), ...this.invalidItems];
    const groups = new Map<string | undefined, TunnelEntry[]>();
    for (const e of entries) {
      const key = folders.some((f) => f.uri.fsPath === e.config.folder) ? e.config.folder : undefined;
      groups.set(key, [...(groups.get(key) ?? []), e]);
    }
    const items: TunnelNode[] = [];
    const folderItem = (key: string | undefined, label: string, group: TunnelEntry[]) => {
      const id = key ?? '';
      const item = this.folders.get(id) ?? new FolderItem(key, label);
      this.folders.set(id, item);
      items.push(item.update(group));
    };
    if (groups.has(undefined)) folderItem(undefined, 'Workspace', groups.get(undefined)!);
    for (const f of folders) {
      const group = groups.get(f.uri.fsPath);
      if (group) folderItem(f.uri.fsPath, f.name, group);
    }
    return [...items, ...this.invalidItems];
  }

  private tunnelChildren(item: TunnelItem): TunnelNode[] {
    const entry = this.manager.entry(item.tunnelName);
    if (!entry) return [];
    item.entry = entry;
    const live = entry.state === 'running' || entry.state === 'stopping' ? entry.snapshot?.connections ?? [] : [];
    const children: TunnelNode[] = [];
    const keep = new Set<string>();
    for (const c of live) {
      const key = `${item.tunnelName}:${c.id}`;
      keep.add(key);
      const row = this.connections.get(key)?.update(c) ?? new ConnectionItem(c, item);
      this.connections.set(key, row);
      children.push(row);
    }
    for (const key of this.connections.keys()) if (key.startsWith(`${item.tunnelName}:`) && !keep.has(key)) this.connections.delete(key);
    // With identityCommand the certificate may live in memory only: the running tunnel's own says what it presents.
    const identity = entry.state === 'running' && entry.config.identityCommand ? entry.counts?.identity : undefined;
    const client = identity ? identityView(entry.config, identity) : clientCertificateView(this.certificates.get(entry.config), entry.config);
    if (client) children.push(this.certificateItem(item, 'client', client));
    const server = this.tests.last(item.tunnelName)?.report.serverChain[0];
    if (server) {
      children.push(this.certificateItem(item, 'server', {
        label: commonName(server.subject),
        description: `server · ${daysLeft(server.daysLeft)} · from the last connection test`,
        tooltip: `Server certificate\nSubject: ${server.subject}\nIssuer: ${server.issuer}\nValid: ${server.validFrom.slice(0, 10)} → ${server.validTo.slice(0, 10)}\nSANs: ${server.subjectAltNames.join(', ') || 'none'}`,
        attention: server.daysLeft < 0 ? 'error' : server.daysLeft <= 14 ? 'warning' : 'none',
      }));
    }
    return children;
  }

  private certificateItem(parent: TunnelItem, role: 'client' | 'server', view: CertificateView): CertificateItem {
    const key = `${parent.tunnelName}:${role}`;
    const existing = this.certificateItems.get(key);
    if (existing && existing.parent === parent) return existing.update(view);
    const item = new CertificateItem(role, parent, view);
    this.certificateItems.set(key, item);
    return item;
  }

  dispose(): void {
    clearTimeout(this.pending);
    clearInterval(this.ticker);
    for (const d of this.disposables) d.dispose();
  }
}

function clientCertificateView(cert: ClientCertificate | undefined, config: TunnelConfig): CertificateView | undefined {
  if (!cert) return undefined;
  // No file yet is expected when identityCommand makes the certificate (perhaps only in memory).
  if (cert.kind === 'unreadable' && config.identityCommand) {
    return { label: 'Client certificate', description: 'client · from identityCommand when the tunnel starts', tooltip: renewalWords(config, undefined)?.line ?? cert.message, attention: 'none' };
  }
  switch (cert.kind) {
    case 'locked':
      return { label: 'Client certificate', description: 'PKCS#12 · locked until its passphrase is entered', tooltip: cert.file, attention: 'none' };
    case 'unreadable':
      return { label: 'Client certificate', description: 'cannot be read', tooltip: cert.message, attention: 'error' };
    case 'certificate': {
      const s = cert.summary;
      const when = s.status === 'not yet valid' ? `not valid until ${s.validFrom.slice(0, 10)}` : daysLeft(s.daysLeft);
      return {
        label: s.commonName ?? s.subject,
        description: `client · ${when}`,
        tooltip: `Client certificate ${cert.file}\nSubject: ${s.subject}\nIssuer: ${s.issuer}\nValid: ${s.validFrom.slice(0, 10)} → ${s.validTo.slice(0, 10)} (${s.status})\nSHA-256: ${s.sha256Fingerprint}`,
        attention: s.status === 'valid' ? 'none' : s.status === 'expires soon' ? 'warning' : 'error',
      };
    }
  }
}

/** A running tunnel's certificate as it presents it (perhaps a command's output, held in memory), with what renews it. */
function identityView(config: TunnelConfig, identity: IdentityStatus): CertificateView {
  const renewal = renewalWords(config, identity);
  const left = identity.validTo - Date.now();
  const when = left <= 0 ? 'expired' : left < 86_400_000 ? `expires ${new Date(identity.validTo).toLocaleTimeString()}` : daysLeft(Math.floor(left / 86_400_000));
  return {
    label: commonName(identity.subject),
    description: `client · ${when}${identity.renewedBy === 'command' ? ' · renewed by identityCommand' : ''}`,
    tooltip: `Client certificate ${identity.source === 'command output' ? 'from the output of identityCommand (in memory only)' : config.cert ?? ''}\nSubject: ${identity.subject}\nValid: ${new Date(identity.validFrom).toISOString()} → ${new Date(identity.validTo).toISOString()}${renewal ? `\n${renewal.line}` : ''}`,
    attention: renewal?.attention ?? 'none',
  };
}

function commonName(subject: string): string {
  return /(?:^|,\s*)CN=([^,]+)/.exec(subject)?.[1] ?? subject;
}

function daysLeft(days: number): string {
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return `${days} day${days === 1 ? '' : 's'} left`;
}
