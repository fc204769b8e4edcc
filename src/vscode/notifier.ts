/**
 * The one way problems reach the user. Command failures, auto-start failures, background
 * failures and settings problems all come through here: a diagnosis becomes its sentence and its
 * fix in the editor's words, with buttons that act (Edit "ca" on that field, Inspect
 * Certificates, Show Log); anything else its message. Never a stack trace (that goes to the log).
 * A background failure is not shown again while a notification for the same tunnel and cause is up.
 */
import * as vscode from 'vscode';
import { ConfigError } from '../core/config/model';
import { Diagnosis, DiagnosisCode, Severity } from '../core/diagnostics/diagnosis';
import { editorText, fieldMessage, fieldOfDiagnosis, isCertificateProblem, who } from './diagnosisFields';
import { ALLOW_BUTTON, ALLOW_COMMAND } from './workspaceGrants';

/** Internal command (registered by SettingsProblems): opens the settings with the cursor on a field. */
export const REVEAL_FIELD_COMMAND = 'mtlsTunnels.revealSettingsField';
/** The core's advice to run the CLI's inspect, which the editor turns into its command. */
const ADVISES_INSPECT = /`mtls-tunnels inspect /;

export interface MessageAction {
  title: string;
  run(): unknown;
}

/** A failure a command reports as is: the message is already the sentence the user reads. */
export class CommandError extends Error {
  /** `code`: the diagnosis the sentence quotes, when it quotes one (a connection test's). */
  constructor(message: string, readonly severity: Severity = 'error', readonly actions: MessageAction[] = [], readonly code?: DiagnosisCode) {
    super(message);
  }
}

/** How many messages the test record keeps (far more than a test pass shows). */
const MAX_RECORDED = 1000;

export class Notifier {
  /** Every message shown, oldest first. Read by the integration tests. */
  readonly shown: string[] = [];
  /** The buttons of every message shown, in the same order as `shown`. Read by the integration tests. */
  readonly buttons: string[][] = [];
  private lastConfigErrors = '';
  /** Notifications still on screen (not dismissed), by `tunnel|code`. */
  private readonly up = new Set<string>();

  constructor(private readonly log: vscode.LogOutputChannel) {}

  /** Reports a failure of a command (or of an auto-start) concerning `tunnel`, when known. */
  error(err: unknown, tunnel?: string): void {
    const diagnosis = diagnosisOf(err);
    if (diagnosis) {
      // The core already logged the diagnosis when it made it.
      const field = (err as { field?: unknown }).field;
      this.diagnosis(diagnosis, tunnel, typeof field === 'string' ? field : undefined, err instanceof CommandError ? err.actions : []);
    } else if (err instanceof CommandError) {
      this.log[err.severity === 'info' ? 'info' : 'warn'](err.message);
      // A command's own sentence may quote the core's (a connection test's diagnosis): the editor's words.
      const explainedByCertificates = ADVISES_INSPECT.test(err.message) || (err.code !== undefined && isCertificateProblem(err.code));
      const inspect = tunnel && !tunnel.startsWith('#') && explainedByCertificates ? [this.inspect(tunnel)] : [];
      this.show(err.severity, editorText(err.message), [...err.actions, ...inspect, this.showLog()]);
    } else {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error(tunnel ? `[${tunnel}] ${message}` : message);
      if (err instanceof Error && err.stack) this.log.debug(err.stack);
      this.show('error', `mTLS Tunnels: ${message}`, [this.showLog()]);
    }
  }

  /**
   * A failure nobody asked about just now (a settings save, a file reload, a passphrase): shown
   * unless a notification for the same tunnel and cause is still up. True when shown.
   */
  background(tunnel: string, diagnosis: Diagnosis, field?: string): boolean {
    if (this.up.has(`${tunnel}|${diagnosis.code}`)) return false;
    this.diagnosis(diagnosis, tunnel, field);
    return true;
  }

  /**
   * The failure this tunnel's notification reported no longer holds (the tunnel runs with its
   * settings): said in one line, if that notification is still up, so it is not the latest word.
   */
  fixed(tunnel: string, diagnosis: Diagnosis): void {
    if (!this.up.delete(`${tunnel}|${diagnosis.code}`)) return;
    this.log.info(`[${tunnel}] the problem reported earlier is fixed: ${diagnosis.summary}`);
    this.show('info', `${who(tunnel)} is running with its current settings again; the problem reported earlier is fixed.`, []);
  }

  /** A diagnosis in the editor's words, with Edit "<field>", Inspect Certificates (when they explain it) and Show Log. */
  private diagnosis(d: Diagnosis, tunnel: string | undefined, field: string | undefined, extra: MessageAction[] = []): void {
    const actions: MessageAction[] = [...extra];
    const named = tunnel && !tunnel.startsWith('#') ? tunnel : undefined;
    const where = field ?? fieldOfDiagnosis(d);
    // Held settings: the answer first, then where they are written.
    if (named && d.code === 'NEEDS_CONSENT') actions.push({ title: ALLOW_BUTTON, run: () => vscode.commands.executeCommand(ALLOW_COMMAND, named) });
    if (named) actions.push({ title: `Edit "${where}"`, run: () => vscode.commands.executeCommand(REVEAL_FIELD_COMMAND, named, where) });
    if (named && (isCertificateProblem(d.code) || ADVISES_INSPECT.test(d.fix))) actions.push(this.inspect(named));
    actions.push(this.showLog());
    this.show(d.severity, editorText(`${d.summary} ${d.fix}`), actions, named && `${named}|${d.code}`);
  }

  /** Several tunnels failed to start at once: one message, the details in the log. */
  startFailures(failures: Map<string, unknown>): void {
    if (failures.size === 0) return;
    if (failures.size === 1) {
      const [[name, err]] = failures;
      this.error(err, name);
      return;
    }
    for (const [name, err] of failures) {
      const d = diagnosisOf(err);
      if (d) this.up.add(`${name}|${d.code}`);
    }
    const names = [...failures.keys()].map((n) => `"${n}"`).join(', ');
    for (const [name, err] of failures) if (!diagnosisOf(err)) this.log.error(`[${name}] ${err instanceof Error ? err.message : String(err)}`);
    this.show('error', `${failures.size} tunnels did not start: ${names}. The tree and the log say why.`, [this.showLog()]);
  }

  /**
   * Settings problems, once per distinct set: every one in the log (and, through SettingsProblems,
   * on its field in the Problems panel), the first in a message with a button to that field.
   */
  configErrors(errors: readonly ConfigError[]): void {
    const key = errors.map(String).join('\n');
    if (key === this.lastConfigErrors) return;
    this.lastConfigErrors = key;
    if (errors.length === 0) return;
    for (const e of errors) this.log.warn(`settings: ${e}`);
    const first = errors[0];
    const more = errors.length > 1 ? ` (${errors.length - 1} more in the Problems panel)` : '';
    // What happened, then the first reason with its field: one sentence.
    const message = `${who(first.tunnel)} is not used: ${fieldMessage(first).replace(/[.]$/, '')}${more}.`;
    const actions: MessageAction[] = [];
    if (first.tunnel !== '*') {
      const title = first.field ? `Edit "${first.field}"` : 'Edit Settings';
      actions.push({ title, run: () => vscode.commands.executeCommand(REVEAL_FIELD_COMMAND, first) });
    }
    actions.push({ title: 'Show Problems', run: () => vscode.commands.executeCommand('workbench.actions.view.problems') });
    this.show('warning', message, actions);
  }

  info(message: string, actions: MessageAction[] = []): void {
    this.show('info', message, actions);
  }

  /** Shows without waiting: a notification's promise settles only when it is dismissed. */
  private show(severity: Severity, message: string, actions: MessageAction[], key?: string | false): void {
    const titles = actions.map((a) => a.title);
    // A record for the integration tests, bounded: a window open for weeks keeps the latest only.
    if (this.shown.length >= MAX_RECORDED) {
      this.shown.splice(0, this.shown.length - MAX_RECORDED + 1);
      this.buttons.splice(0, this.buttons.length - MAX_RECORDED + 1);
    }
    this.shown.push(message);
    this.buttons.push(titles);
    if (key) this.up.add(key);
    const shown = severity === 'error' ? vscode.window.showErrorMessage(message, ...titles)
      : severity === 'warning' ? vscode.window.showWarningMessage(message, ...titles)
        : vscode.window.showInformationMessage(message, ...titles);
    void shown.then((choice) => {
      if (key) this.up.delete(key);
      return actions.find((a) => a.title === choice)?.run();
    });
  }

  /** The button the editor offers where the core's sentence advises `mtls-tunnels inspect`. */
  private inspect(tunnel: string): MessageAction {
    return { title: 'Inspect Certificates', run: () => vscode.commands.executeCommand('mtlsTunnels.inspectCertificates', tunnel) };
  }

  private showLog(): MessageAction {
    return { title: 'Show Log', run: () => this.log.show(true) };
  }
}

/** TunnelStartError and CredentialsError carry a diagnosis; so may anything else from the core. */
export function diagnosisOf(err: unknown): Diagnosis | undefined {
  const d = (err as { diagnosis?: Diagnosis } | undefined)?.diagnosis;
  return d && typeof d.summary === 'string' && typeof d.fix === 'string' ? d : undefined;
}
