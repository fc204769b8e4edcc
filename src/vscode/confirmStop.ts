/**
 * The one question before an explicit Stop, Restart or Stop All cuts live sessions: a modal
 * warning that says how many connections on which tunnels will be closed. Nothing is asked when
 * none are open, so stopping an idle tunnel stays one click.
 */
import * as vscode from 'vscode';
import { TunnelEntry } from '../core/manager';

export type CutAction = 'Stop' | 'Restart' | 'Stop All';

/** What the user is asked: the modal's sentence, its detail line and its buttons (Cancel last). */
export interface CutQuestion {
  message: string;
  detail: string;
  buttons: string[];
}

/**
 * Test seam, set only in ExtensionMode.Test (the TestApi): VS Code refuses to show modal dialogs
 * while extension tests run (its DialogService "refused to show dialog in tests"), so the
 * integration tests answer the question here, with the button a user would click. Everything
 * else, from counting the connections to acting on the answer, runs as it does for the user.
 */
let testAnswer: ((question: CutQuestion) => string | undefined) | undefined;

export function answerCutQuestionsWith(answer: (question: CutQuestion) => string | undefined): vscode.Disposable {
  testAnswer = answer;
  return { dispose: () => { if (testAnswer === answer) testAnswer = undefined; } };
}

/** True when nothing is open or the user chose `action`; false when they cancelled. */
export async function confirmCut(entries: readonly TunnelEntry[], action: CutAction): Promise<boolean> {
  const open = entries
    .map((e) => ({ name: e.config.name, count: e.snapshot?.openConnections ?? 0 }))
    .filter((e) => e.count > 0);
  if (open.length === 0) return true;
  const question: CutQuestion = {
    message: cutMessage(open),
    detail: action === 'Restart'
      ? 'The tunnel listens again right away, but the clients using it now (psql, redis-cli, an app) lose their sessions.'
      : `The clients using ${open.length === 1 ? 'it' : 'them'} now (psql, redis-cli, an app) lose their sessions.`,
    buttons: [action, 'Cancel'],
  };
  const choice = testAnswer
    ? testAnswer(question)
    : await vscode.window.showWarningMessage(question.message, { modal: true, detail: question.detail }, action);
  return choice === action;
}

/** `2 open connections on "db" will be closed.`; several tunnels: `3 open connections (2 on "db", 1 on "api") will be closed.` */
export function cutMessage(open: ReadonlyArray<{ name: string; count: number }>): string {
  const total = open.reduce((n, e) => n + e.count, 0);
  const noun = `${total} open connection${total === 1 ? '' : 's'}`;
  if (open.length === 1) return `${noun} on "${open[0].name}" will be closed.`;
  return `${noun} (${open.map((e) => `${e.count} on "${e.name}"`).join(', ')}) will be closed.`;
}
