/**
 * Workspace settings cannot open the door by themselves. A teammate's `.vscode/settings.json`, a
 * `.code-workspace` file or a folder's settings may set `"allowOtherUsers": true` or a
 * non-loopback `listen` with `"unsafeListen": true`: either lets others use the user's client
 * certificate. Such a tunnel is held (TunnelConfig.hold: it does not start, a running one keeps
 * its previous settings) until the user confirms, once per workspace, in a modal that names what
 * would be exposed; the answer is remembered in workspaceState by tunnel name, field and value,
 * so a changed value asks again. The same fields in the user's own settings need no question.
 * "Forget Workspace Permissions" takes every answer back. The CLI never holds anything: whoever
 * runs it on a file chose that file.
 */
import * as vscode from 'vscode';
import { TunnelConfig, TunnelHold, formatEndpoint, isLoopbackHost, isSocketPath } from '../core/config/model';
import { expectedProtection } from '../core/tunnel/protection';
import type { SettingsScope } from './settings';

const GRANTS_KEY = 'mtlsTunnels.workspaceGrants';
export const ALLOW_COMMAND = 'mtlsTunnels.allowForWorkspace';
export const FORGET_COMMAND = 'mtlsTunnels.forgetWorkspacePermissions';
export const ALLOW_BUTTON = 'Allow for this workspace…';

/** One field of one tunnel that lets others in, as a settings file sets it. */
export interface Widening {
  field: 'unsafeListen' | 'allowOtherUsers';
  /** What an answer is remembered by: the tunnel, the field and the value that matters. */
  key: string;
  /** Who could connect: `other users on this machine`, `other machines on 0.0.0.0:5432`. */
  who: string;
}

/** The modal's words: the sentence, its detail, and the button that allows (Cancel is VS Code's). */
export interface GrantQuestion {
  message: string;
  detail: string;
  button: string;
}

/** What widens who may connect in these settings here (nothing that changes nothing on this platform). */
export function wideningsOf(config: Pick<TunnelConfig, 'name' | 'listen' | 'allowOtherUsers'>, platform = process.platform): Widening[] {
  const l = config.listen;
  if (!isSocketPath(l) && !isLoopbackHost(l.host)) {
    const where = formatEndpoint(l);
    return [{ field: 'unsafeListen', key: JSON.stringify([config.name, 'unsafeListen', where]), who: `other machines on ${where}` }];
  }
  // Where no check keeps other users out anyway (a socket, macOS, Windows), the field opens nothing.
  if (config.allowOtherUsers && expectedProtection({ ...config, allowOtherUsers: false }, platform).kind !== 'none') {
    return [{ field: 'allowOtherUsers', key: JSON.stringify([config.name, 'allowOtherUsers', true]), who: 'other users on this machine' }];
  }
  return [];
}

/** The question for a tunnel's widenings: `"db" would accept connections from …, presenting your client certificate.` */
export function grantQuestion(name: string, widenings: readonly Widening[], where: string): GrantQuestion {
  const fields = widenings.map((w) => w.field === 'unsafeListen' ? '"unsafeListen": true' : '"allowOtherUsers": true').join(' and ');
  return {
    message: `"${name}" would accept connections from ${widenings.map((w) => w.who).join(' and ')}, presenting your client certificate.`,
    detail: `The ${where} set ${fields}. Allow it only if you meant to share this tunnel. The answer is remembered for this workspace; "mTLS Tunnels: Forget Workspace Permissions" takes it back.`,
    button: 'Allow',
  };
}

/**
 * Test seam, set only in ExtensionMode.Test (the TestApi), as for the stop question
 * (confirmStop.ts): VS Code refuses modal dialogs while extension tests run, so the tests answer
 * here with the button a user would click. Everything around the question runs as for the user.
 */
let testAnswer: ((question: GrantQuestion) => string | undefined) | undefined;

export function answerGrantQuestionsWith(answer: (question: GrantQuestion) => string | undefined): vscode.Disposable {
  testAnswer = answer;
  return { dispose: () => { if (testAnswer === answer) testAnswer = undefined; } };
}

export class WorkspaceGrants implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when an answer was given or forgotten: the settings are read again. */
  readonly onDidChange = this.changed.event;
  /** The widenings each held tunnel waits on, as of the last read, with where they were written. */
  private held = new Map<string, { widenings: Widening[]; where: string }>();

  constructor(private readonly state: vscode.Memento, private readonly log: vscode.LogOutputChannel) {}

  private granted(): string[] {
    return this.state.get<string[]>(GRANTS_KEY, []);
  }

  /**
   * The hold for a tunnel read from settings of `scope` (`where`: `workspace settings`, `workspace
   * file`, `settings of folder api`), or undefined when nothing it widens is unanswered. Called on
   * every read.
   */
  holdFor(config: TunnelConfig, scope: SettingsScope, where: string): TunnelHold | undefined {
    if (scope === 'global') {
      this.held.delete(config.name);
      return undefined;
    }
    const granted = new Set(this.granted());
    const widenings = wideningsOf(config).filter((w) => !granted.has(w.key));
    if (widenings.length === 0) {
      this.held.delete(config.name);
      return undefined;
    }
    this.held.set(config.name, { widenings, where });
    const fields = widenings.map((w) => `"${w.field}"`).join(' and ');
    return {
      field: widenings[0].field,
      summary: `Tunnel "${config.name}" waits for your permission: ${fields} in the ${where} would let ${widenings.map((w) => w.who).join(' and ')} use your client certificate, and a workspace's settings cannot allow that by themselves.`,
      fix: `Choose "${ALLOW_BUTTON}" if you meant it, or set the field in your user settings.`,
    };
  }

  /**
   * Asks, in a modal, whether the tunnel may have what its workspace settings ask for; true when
   * the user allowed it (the settings are then read again, and a wanted tunnel starts).
   */
  async ask(name: string): Promise<boolean> {
    const held = this.held.get(name);
    if (!held) return false;
    const question = grantQuestion(name, held.widenings, held.where);
    const choice = testAnswer
      ? testAnswer(question)
      : await vscode.window.showWarningMessage(question.message, { modal: true, detail: question.detail }, question.button);
    if (choice !== question.button) return false;
    await this.state.update(GRANTS_KEY, [...new Set([...this.granted(), ...held.widenings.map((w) => w.key)])]);
    this.log.warn(`[${name}] allowed for this workspace: ${held.widenings.map((w) => `"${w.field}" (${w.who})`).join(', ')}`);
    this.changed.fire();
    return true;
  }

  /** Forgets every answer given in this workspace; resolves with how many there were. */
  async forget(): Promise<number> {
    const n = this.granted().length;
    if (n === 0) return 0;
    await this.state.update(GRANTS_KEY, undefined);
    this.log.info(`forgot ${n} workspace permission(s)`);
    this.changed.fire();
    return n;
  }

  dispose(): void {
    this.changed.dispose();
  }
}
