/**
 * The rows of the Tunnels view. Each is a small TreeItem subclass whose `contextValue` carries
 * the state the menus in package.json match on (`tunnel:running`, `certificate:client`,
 * `invalid`, …). Items are kept and updated in place (`update`), so the provider can refresh one
 * row; tooltips are built on hover (`tooltip()`, called from resolveTreeItem), so they survive
 * refreshes and always say the current state, with the age of the last diagnosis.
 */
import * as vscode from 'vscode';
import { formatEndpoint } from '../core/config/model';
import { formatDiagnosis } from '../core/diagnostics/diagnosis';
import { TunnelEntry } from '../core/manager';
import { ConnectionSnapshot } from '../core/tunnel/connection';
import { describeProtection, expectedProtection } from '../core/tunnel/protection';
import { renewalWords } from '../core/tls/renewalWords';
import { TunnelState } from '../core/tunnel/tunnel';
import { listenAddress } from './clientCommands';
import { ageOf } from './diagnosisAge';
import { editorText, isChangeNotTaken } from './diagnosisFields';
import { PORT_FORWARDING_DOCS, PORTS_VIEW_COMMAND, remoteLabel } from './whereItRuns';
import { ALLOW_COMMAND } from './workspaceGrants';

const STATE_ICONS: Record<TunnelState, vscode.ThemeIcon> = {
  stopped: new vscode.ThemeIcon('circle-large-outline', new vscode.ThemeColor('disabledForeground')),
  starting: new vscode.ThemeIcon('loading~spin'),
  running: new vscode.ThemeIcon('pass-filled', new vscode.ThemeColor('testing.iconPassed')),
  stopping: new vscode.ThemeIcon('loading~spin'),
  error: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
};
const TROUBLED = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
const ERROR = new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
const HELD = new vscode.ThemeIcon('shield', new vscode.ThemeColor('problemsWarningIcon.foreground'));

export class FolderItem extends vscode.TreeItem {
  entries: TunnelEntry[] = [];

  constructor(readonly folder: string | undefined, label: string) {
    super(label, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `folder:${folder ?? ''}`;
    this.contextValue = 'folder';
    this.iconPath = new vscode.ThemeIcon(folder ? 'folder' : 'root-folder');
  }

  update(entries: TunnelEntry[]): this {
    this.entries = entries;
    const up = entries.filter((e) => e.state === 'running').length;
    this.description = `${up} of ${entries.length} up`;
    return this;
  }
}

export class TunnelItem extends vscode.TreeItem {
  readonly tunnelName: string;
  entry!: TunnelEntry;

  constructor(entry: TunnelEntry, readonly parent: FolderItem | undefined) {
    super(entry.config.name, vscode.TreeItemCollapsibleState.Collapsed);
    this.tunnelName = entry.config.name;
    this.id = `tunnel:${entry.config.name}`;
    this.update(entry);
  }

  update(entry: TunnelEntry): this {
    this.entry = entry;
    const { config, state } = entry;
    // `:held`: its workspace settings wait for the user's permission (workspaceGrants.ts).
    this.contextValue = `tunnel:${state}${config.hold ? ':held' : ''}`;
    // The count, not the snapshot: a snapshot lists every connection, and this runs on every redraw.
    const open = state === 'running' || state === 'stopping' ? entry.counts?.openConnections ?? 0 : 0;
    const route = `${formatEndpoint(listenAddress(entry))} → ${formatEndpoint(config.target)}${config.targets.length > 1 ? ` +${config.targets.length - 1}` : ''} · ${config.protocol}`;
    // The count first: it is what changes under traffic, and a narrow view cuts the end.
    this.description = open ? `${open} open · ${route}` : config.hold ? `waits for your permission · ${route}` : route;
    // Running, but connections fail or a settings change did not take: worth a different icon
    // than a quiet, healthy tunnel; held (waits for the user's permission): a shield.
    const last = entry.lastDiagnosis;
    const troubled = state === 'running' && last && (last.severity === 'error' || isChangeNotTaken(last));
    this.iconPath = troubled ? TROUBLED : config.hold && state !== 'running' ? HELD : STATE_ICONS[state];
    this.tooltip = undefined;
    const trouble = troubled ? (isChangeNotTaken(last) ? ', a settings change did not take' : ', connections are failing') : '';
    this.accessibilityInformation = { label: `Tunnel ${config.name}, ${state}${trouble}${open ? `, ${open} open connection${open === 1 ? '' : 's'}` : ''}, ${route}` };
    return this;
  }

  buildTooltip(): vscode.MarkdownString {
    return tunnelTooltip(this.entry);
  }
}

export class ConnectionItem extends vscode.TreeItem {
  readonly tunnelName: string;
  connection!: ConnectionSnapshot;

  constructor(connection: ConnectionSnapshot, readonly parent: TunnelItem) {
    super(connection.client, vscode.TreeItemCollapsibleState.None);
    this.tunnelName = parent.tunnelName;
    this.id = `connection:${parent.tunnelName}:${connection.id}`;
    this.update(connection);
  }

  update(connection: ConnectionSnapshot): this {
    this.connection = connection;
    this.contextValue = `connection:${connection.state}`;
    this.iconPath = new vscode.ThemeIcon(connection.state === 'connecting' ? 'loading~spin' : 'plug');
    // Which server it reached, once there is a choice of them.
    const via = connection.target && this.parent.entry.config.targets.length > 1 ? `→ ${connection.target} · ` : '';
    this.description = `${via}${age(Date.now() - connection.openedAt)} · ↑ ${bytes(connection.bytesUp)} ↓ ${bytes(connection.bytesDown)}`;
    this.tooltip = undefined;
    return this;
  }

  buildTooltip(): string {
    const c = this.connection;
    const h = c.handshake;
    return `Connection #${c.id} from ${c.client}${c.target ? ` to ${c.target}` : ''}, opened ${new Date(c.openedAt).toLocaleTimeString()}\n`
      + (h ? `${h.version}, ${h.cipher}${h.alpn ? `, ALPN ${h.alpn}` : ''}${h.resumed ? ', session resumed' : ''}${h.warm ? ', warm (made before the client came)' : ''}` : 'TLS handshake under way');
  }
}

export interface CertificateView {
  label: string;
  description: string;
  tooltip: string;
  attention: 'none' | 'warning' | 'error';
}

export class CertificateItem extends vscode.TreeItem {
  readonly tunnelName: string;
  private text = '';

  constructor(readonly role: 'client' | 'server', readonly parent: TunnelItem, view: CertificateView) {
    super(view.label, vscode.TreeItemCollapsibleState.None);
    this.tunnelName = parent.tunnelName;
    this.id = `certificate:${parent.tunnelName}:${role}`;
    this.command = { title: 'Inspect Certificates', command: 'mtlsTunnels.inspectCertificates', arguments: [this] };
    this.update(view);
  }

  update(view: CertificateView): this {
    this.label = view.label;
    this.contextValue = `certificate:${this.role}${view.attention === 'none' ? '' : ':attention'}`;
    this.description = view.description;
    this.text = view.tooltip;
    this.tooltip = undefined;
    this.iconPath = view.attention === 'error' ? ERROR
      : view.attention === 'warning' ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'))
        : new vscode.ThemeIcon('verified');
    return this;
  }

  buildTooltip(): string {
    return this.text;
  }
}

/** A settings entry the parser refused, with what to open for each of its problems. */
export interface InvalidEntry {
  /** Stable across refreshes: settings source and entry position. */
  key: string;
  /** The entry's name, or "tunnel #3". */
  label: string;
  where: string;
  problems: { message: string; field: string; target?: unknown }[];
}

/** An entry that is not used: it stays in the tree, in error, named by its name or position. */
export class InvalidItem extends vscode.TreeItem {
  constructor(readonly invalid: InvalidEntry, readonly parent: FolderItem | undefined) {
    super(invalid.label, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `invalid:${invalid.key}`;
    this.contextValue = 'invalid';
    this.iconPath = ERROR;
    const n = invalid.problems.length;
    this.description = `not used: ${n} problem${n === 1 ? '' : 's'} in ${invalid.where}`;
    this.tooltip = `This entry of mtlsTunnels.tunnels is not used until ${n === 1 ? 'its problem is' : `its ${n} problems are`} fixed. Click a problem to edit that field.`;
  }
}

/** One problem of an invalid entry; clicking it opens the settings file at that field. */
export class ProblemItem extends vscode.TreeItem {
  constructor(readonly problem: InvalidEntry['problems'][number], readonly parent: InvalidItem, position: number) {
    super(problem.field ? `"${problem.field}"` : 'entry', vscode.TreeItemCollapsibleState.None);
    this.id = `${parent.id}:${position}`;
    this.contextValue = 'problem';
    this.description = problem.message;
    this.tooltip = problem.message;
    this.iconPath = new vscode.ThemeIcon('circle-small-filled', new vscode.ThemeColor('problemsErrorIcon.foreground'));
    if (problem.target) this.command = { title: 'Edit the field', command: 'mtlsTunnels.revealSettingsField', arguments: [problem.target] };
  }
}

export type TunnelNode = FolderItem | TunnelItem | ConnectionItem | CertificateItem | InvalidItem | ProblemItem;

function tunnelTooltip(entry: TunnelEntry): vscode.MarkdownString {
  const { config, state, snapshot: s, lastDiagnosis } = entry;
  const md = new vscode.MarkdownString('', true);
  // Links that run commands: only these two.
  md.isTrusted = { enabledCommands: [ALLOW_COMMAND, PORTS_VIEW_COMMAND] };
  md.appendMarkdown(`**${escape(config.name)}** — ${state}\n\n`);
  if (config.hold) {
    md.appendMarkdown(`$(shield) ${escape(editorText(config.hold.summary))} [Allow for this workspace…](command:${ALLOW_COMMAND}?${encodeURIComponent(JSON.stringify([config.name]))})\n\n`);
  }
  if (config.targets.length > 1) {
    md.appendMarkdown(`${code(formatEndpoint(listenAddress(entry)))} → ${config.targets.length} targets (${config.targetPolicy}) · ${config.protocol}\n\n`);
    const standing = new Map((s?.targets ?? []).map((t) => [t.target, t]));
    for (const t of config.targets) {
      const st = standing.get(formatEndpoint(t));
      const note = st?.backoffUntil ? ` — skipped until ${new Date(st.backoffUntil).toLocaleTimeString()} after ${st.failures} failure${st.failures === 1 ? '' : 's'}` : '';
      md.appendMarkdown(`- ${code(formatEndpoint(t))}, server name ${code(t.serverName)}${escape(note)}\n`);
    }
    md.appendMarkdown('\n');
  } else {
    md.appendMarkdown(`${code(formatEndpoint(listenAddress(entry)))} → ${code(formatEndpoint(config.target))} · ${config.protocol}, server name ${code(config.serverName)}\n\n`);
  }
  // The proxy only ever as its redacted URL; with "env", where it came from or why it is not used.
  if (config.proxy) md.appendMarkdown(`Through the HTTP proxy ${code(config.proxy.url)}${config.proxy.source === 'settings' ? '' : ` (from ${escape(config.proxy.source)})`}\n\n`);
  else if (config.proxyBypass) md.appendMarkdown(`Direct, not through a proxy: ${escape(config.proxyBypass)}\n\n`);
  if (s && (state === 'running' || state === 'stopping' || s.totalConnections > 0)) {
    const failed = Object.values(s.handshakesFailed).reduce((n, x) => n + (x ?? 0), 0);
    md.appendMarkdown(`Connections: ${s.openConnections} open, ${s.totalConnections} in all · ↑ ${bytes(s.bytesUp)} ↓ ${bytes(s.bytesDown)}\n\n`);
    md.appendMarkdown(`Handshakes: ${s.handshakesOk} ok, ${failed} failed\n\n`);
    const h = s.lastHandshake;
    if (h) md.appendMarkdown(`Last handshake: ${h.version}, ${escape(h.cipher)}${h.alpn ? `, ALPN ${escape(h.alpn)}` : ''}${h.resumed ? ', session resumed' : ''}\n\n`);
    if (s.credentials) md.appendMarkdown(`Identity: ${escape(s.credentials)}\n\n`);
  }
  md.appendMarkdown(`${whereItRuns(entry)}\n\n`);
  // What it found it could do while running; what the settings ask for here otherwise (as `check` says).
  md.appendMarkdown(`Protection: ${escape(describeProtection(entry.counts?.protection ?? expectedProtection(config)))}\n\n`);
  const renewal = renewalWords(config, state === 'running' ? s?.identity : undefined);
  if (renewal) md.appendMarkdown(`${renewal.attention === 'none' ? '$(sync)' : renewal.attention === 'warning' ? '$(warning)' : '$(error)'} ${escape(renewal.line)}\n\n`);
  if (state === 'error' && !lastDiagnosis) {
    // The failure's diagnosis went with the settings it was about: say so rather than stay red for no reason.
    md.appendMarkdown(`---\n\n$(info) Its last start failed, and its settings have changed since: start it again to try them.\n`);
  }
  // A held start's diagnosis says what the hold line above says.
  if (lastDiagnosis && !(config.hold && lastDiagnosis.code === 'NEEDS_CONSENT')) {
    const icon = lastDiagnosis.severity === 'error' ? '$(error)' : lastDiagnosis.severity === 'warning' ? '$(warning)' : '$(info)';
    md.appendMarkdown(`---\n\n${icon} ${escape(editorText(formatDiagnosis({ ...lastDiagnosis, detail: undefined })))} *(${ageOf(lastDiagnosis)})*\n`);
  }
  return md;
}

/** `Runs on this computer`, or on which remote host, with how to forward its port deliberately. */
function whereItRuns(entry: TunnelEntry): string {
  const label = remoteLabel();
  if (!label) return 'Runs on this computer';
  const forward = listenAddress(entry).port !== undefined
    ? ` — its port is on that machine; to use it here, forward it deliberately in the [Ports view](command:${PORTS_VIEW_COMMAND}) ([how](${PORT_FORWARDING_DOCS}))`
    : ' — its socket is a file on that machine';
  return `Runs on the remote host (${escape(label)})${forward}`;
}

/** Markdown outside code spans needs its punctuation escaped. */
export function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>$]/g, '\\$&');
}

/** A code span: nothing inside is escaped (it would show its backslashes); backticks inside get a longer fence. */
export function code(text: string): string {
  const fence = /`/.test(text) ? '``' : '`';
  return `${fence}${fence === '``' ? ` ${text} ` : text}${fence}`;
}

export function bytes(n: number): string {
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
