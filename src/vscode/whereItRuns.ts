/**
 * Where a tunnel runs, in its tooltip. The extension runs where the workspace is
 * (`extensionKind: workspace`): in a Remote-SSH, WSL, container or tunnel window the listener is a
 * port of that remote machine, shared with its other users and processes, and not on the laptop
 * until the user forwards it deliberately (VS Code does not: ports.ts marks them Ignore).
 */
import * as vscode from 'vscode';

export const PORT_FORWARDING_DOCS = 'https://code.visualstudio.com/docs/debugtest/port-forwarding';
/** The Ports view, to forward a port deliberately. */
export const PORTS_VIEW_COMMAND = '~remote.forwardedPorts.focus';

/** `SSH: myhost`, `WSL: Ubuntu`, `Dev Container`: the remote as VS Code's status bar names it, or undefined when local. */
export function remoteLabel(remoteName = vscode.env.remoteName, authority = remoteAuthority()): string | undefined {
  if (!remoteName) return undefined;
  // The authority is `kind+name` (`ssh-remote+myhost`); containers hex-encode theirs, which names nothing.
  const plus = authority?.indexOf('+') ?? -1;
  const name = authority && plus > 0 && authority.slice(0, plus) === remoteName ? safeDecode(authority.slice(plus + 1)) : undefined;
  switch (remoteName) {
    case 'ssh-remote': return name ? `SSH: ${name}` : 'SSH';
    case 'wsl': return name ? `WSL: ${name}` : 'WSL';
    case 'dev-container':
    case 'attached-container': return 'Dev Container';
    case 'codespaces': return 'Codespaces';
    case 'tunnel': return name ? `Tunnel: ${name}` : 'Tunnel';
    // Some hosts (a VS Code server in a browser) give an address instead of a kind.
    default: return name ? `${remoteName}: ${name}` : remoteName;
  }
}

/** The authority of the remote workspace (`ssh-remote+myhost`), when the window is remote. */
function remoteAuthority(): string | undefined {
  const uri = vscode.workspace.workspaceFile ?? vscode.workspace.workspaceFolders?.[0]?.uri;
  return uri?.scheme === 'vscode-remote' ? uri.authority : undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
