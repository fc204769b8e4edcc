import * as vscode from 'vscode';

// Placeholder composition root; the real one wires the tunnel manager, tree, status bar and commands.
export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(vscode.window.createOutputChannel('mTLS Tunnels', { log: true }));
}

export function deactivate(): void {}
