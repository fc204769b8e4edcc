/**
 * Open Terminal: an integrated terminal where the tunnel's clients just work, because its
 * variables are set (`PGHOST`, `PGUSER`, `DATABASE_URL`, `MTLS_TUNNEL_ADDR`, … from the core's
 * clientEnv, the same ones `mtls-tunnels exec` sets). The tunnel is started first when it is not
 * running, so the port is real; the terminal's first lines say which variables it has.
 */
import * as vscode from 'vscode';
import { formatEndpoint } from '../core/config/model';
import { TunnelManager } from '../core/manager';
import { listenAddress, tunnelClientEnv } from './clientCommands';
import { CommandError, Notifier } from './notifier';

export const OPEN_TERMINAL_COMMAND = 'mtlsTunnels.openTerminal';

export class TunnelTerminals implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly manager: TunnelManager, notifier: Notifier) {
    this.disposables = [
      vscode.commands.registerCommand(OPEN_TERMINAL_COMMAND, async (arg?: unknown) => {
        try {
          return await this.open(arg);
        } catch (err) {
          notifier.error(err, nameOf(arg));
          return undefined;
        }
      }),
    ];
  }

  /** Opens the terminal for the named (or picked) tunnel; undefined when cancelled or it did not start. */
  async open(arg?: unknown): Promise<vscode.Terminal | undefined> {
    const name = nameOf(arg) ?? await this.pick();
    if (!name) return undefined;
    let entry = this.manager.entry(name);
    if (!entry) throw new CommandError(`There is no tunnel named "${name}" in the settings.`, 'warning');
    if (entry.state !== 'running') {
      // Through the Start command: trust, passphrases and failures are handled as everywhere else.
      const address = await vscode.commands.executeCommand<string | undefined>('mtlsTunnels.start', name);
      entry = this.manager.entry(name);
      if (!address || entry?.state !== 'running') return undefined;
    }
    const env = tunnelClientEnv(entry);
    const names = Object.keys(env);
    const terminal = vscode.window.createTerminal({
      name: `mTLS: ${name}`,
      env,
      message: `Tunnel "${name}" is on ${formatEndpoint(listenAddress(entry))}. This terminal has ${list(names)} set${hint(env)}.`,
      iconPath: new vscode.ThemeIcon('lock'),
    });
    terminal.show();
    return terminal;
  }

  private async pick(): Promise<string | undefined> {
    const entries = this.manager.entries();
    if (entries.length === 0) {
      throw new CommandError('No tunnels are configured yet.', 'info', [{ title: 'Add Tunnel', run: () => vscode.commands.executeCommand('mtlsTunnels.addTunnel') }]);
    }
    if (entries.length === 1) return entries[0].config.name;
    const running = entries.filter((e) => e.state === 'running');
    const picked = await vscode.window.showQuickPick(
      [...running, ...entries.filter((e) => e.state !== 'running')].map((e) => ({ label: e.config.name, description: `${e.state} · ${formatEndpoint(listenAddress(e))} → ${formatEndpoint(e.config.target)}` })),
      { placeHolder: 'Open a terminal for which tunnel?' },
    );
    return picked?.label;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function nameOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const name = (arg as { tunnelName?: unknown } | undefined)?.tunnelName;
  return typeof name === 'string' ? name : undefined;
}

function list(names: string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** What to type, for the tools whose variables are set. */
function hint(env: Record<string, string>): string {
  if (env.PGHOST) return ': run psql';
  if (env.MYSQL_HOST) return ': run mysql';
  if (env.REDIS_URL) return ': run redis-cli -u "$REDIS_URL"';
  return '';
}
