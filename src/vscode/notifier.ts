/**
 * The one way problems reach the user. Command failures, auto-start failures and settings
 * problems all come through here: a diagnosis becomes its sentence and its fix, with "Show Log"
 * and "Test Connection"; anything else its message. Never a stack trace (that goes to the log).
 */
import * as vscode from 'vscode';
import { ConfigError } from '../core/config/model';
import { Diagnosis, Severity } from '../core/diagnostics/diagnosis';

export interface MessageAction {
  title: string;
  run(): unknown;
}

/** A failure a command reports as is: the message is already the sentence the user reads. */
export class CommandError extends Error {
  constructor(message: string, readonly severity: Severity = 'error', readonly actions: MessageAction[] = []) {
    super(message);
  }
}

export class Notifier {
  /** Every message shown, oldest first. Read by the integration tests. */
  readonly shown: string[] = [];
  private lastConfigErrors = '';

  constructor(private readonly log: vscode.LogOutputChannel) {}

  /** Reports a failure of a command (or of an auto-start) concerning `tunnel`, when known. */
  error(err: unknown, tunnel?: string): void {
    const diagnosis = diagnosisOf(err);
    if (diagnosis) {
      // The core already logged the diagnosis when it made it.
      this.show(diagnosis.severity, `${diagnosis.summary} ${diagnosis.fix}`, this.tunnelActions(tunnel));
    } else if (err instanceof CommandError) {
      this.log[err.severity === 'info' ? 'info' : 'warn'](err.message);
      this.show(err.severity, err.message, [...err.actions, this.showLog()]);
    } else {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error(tunnel ? `[${tunnel}] ${message}` : message);
      if (err instanceof Error && err.stack) this.log.debug(err.stack);
      this.show('error', `mTLS Tunnels: ${message}`, [this.showLog()]);
    }
  }

  /** Several tunnels failed to start at once: one message, the details in the log. */
  startFailures(failures: Map<string, unknown>): void {
    if (failures.size === 0) return;
    if (failures.size === 1) {
      const [[name, err]] = failures;
      this.error(err, name);
      return;
    }
    const names = [...failures.keys()].map((n) => `"${n}"`).join(', ');
    for (const [name, err] of failures) if (!diagnosisOf(err)) this.log.error(`[${name}] ${err instanceof Error ? err.message : String(err)}`);
    this.show('error', `${failures.size} tunnels did not start: ${names}. The tree and the log say why.`, [this.showLog()]);
  }

  /** Settings problems, once per distinct set: every one in the log, the first in a message. */
  configErrors(errors: readonly ConfigError[]): void {
    const key = errors.map(String).join('\n');
    if (key === this.lastConfigErrors) return;
    this.lastConfigErrors = key;
    if (errors.length === 0) return;
    for (const e of errors) this.log.warn(`settings: ${e}`);
    const first = String(errors[0]);
    const message = errors.length === 1
      ? `mTLS Tunnels settings: ${first}.`
      : `mTLS Tunnels settings have ${errors.length} problems; the first: ${first}.`;
    this.show('warning', message, [
      { title: 'Open Settings', run: () => vscode.commands.executeCommand('mtlsTunnels.editSettings', errors[0].tunnel) },
      this.showLog(),
    ]);
  }

  info(message: string, actions: MessageAction[] = []): void {
    this.show('info', message, actions);
  }

  /** Shows without waiting: a notification's promise settles only when it is dismissed. */
  private show(severity: Severity, message: string, actions: MessageAction[]): void {
    this.shown.push(message);
    const titles = actions.map((a) => a.title);
    const shown = severity === 'error' ? vscode.window.showErrorMessage(message, ...titles)
      : severity === 'warning' ? vscode.window.showWarningMessage(message, ...titles)
        : vscode.window.showInformationMessage(message, ...titles);
    void shown.then((choice) => actions.find((a) => a.title === choice)?.run());
  }

  private tunnelActions(tunnel: string | undefined): MessageAction[] {
    const actions = [this.showLog()];
    if (tunnel && !tunnel.startsWith('#')) {
      actions.push({ title: 'Test Connection', run: () => vscode.commands.executeCommand('mtlsTunnels.testConnection', tunnel) });
    }
    return actions;
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
