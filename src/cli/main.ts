#!/usr/bin/env node
/**
 * `mtls-tunnels`: the same tunnels as the editor, headless. Exit codes: 0 ok, 1 a tunnel failed
 * (start, check, inspect), 2 bad usage or configuration.
 */
import { UsageError, parseArgs } from './args';
import { selectTunnels } from './config';
import { stderrLogger } from './logger';
import { metricsEndpoint } from './metricsServer';
import { runUp } from './up';

const USAGE = `Usage: mtls-tunnels <command> [options]

Commands:
  up [NAME...] [--config FILE] [-v|-vv] [--metrics HOST:PORT [--unsafe-metrics]]
                                           run tunnels until Ctrl-C; --metrics serves
                                           /metrics (Prometheus), /healthz, /readyz?check=1
  check [NAME...] [--config FILE] [--json] connect, handshake and verify; explain failures
  inspect FILE... [--json] [--passphrase-env VAR]
                                           summarize certificates, keys and PKCS#12 bundles
  exec NAME [--config FILE] [-v] -- COMMAND...
                                           run COMMAND with the tunnel up and its client
                                           variables (PGHOST, DATABASE_URL, ...) set
  export NAME --format ghostunnel|stunnel|envoy|systemd [--config FILE]
                                           print the tunnel as a sidecar configuration,
                                           or a systemd user unit that runs it with restart

FILE defaults to .vscode/settings.json (key "mtlsTunnels.tunnels"); a .code-workspace file or a
{ "tunnels": [...] } file work too.
`;

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    (command ? out : err)(USAGE);
    return command ? 0 : 2;
  }
  if (command === '--version') {
    out(`${process.env.MTLS_TUNNELS_VERSION ?? '0.1.0'}\n`);
    return 0;
  }
  try {
    switch (command) {
      case 'up': {
        const args = parseArgs(rest, ['config', 'metrics'], ['unsafe-metrics']);
        const metricsFlag = args.flags.get('metrics') as string | undefined;
        if (metricsFlag === undefined && args.flags.has('unsafe-metrics')) throw new UsageError('--unsafe-metrics only goes with --metrics HOST:PORT');
        const metrics = metricsFlag === undefined ? undefined : metricsEndpoint(metricsFlag, args.flags.has('unsafe-metrics'));
        if (typeof metrics === 'string') throw new UsageError(metrics);
        const selection = await selectTunnels(args.flags.get('config') as string | undefined, args.positionals);
        if (!selection.ok) return configFailure(selection.lines);
        const stopSignal = new Promise<string>((resolve) => {
          for (const s of ['SIGINT', 'SIGTERM'] as const) {
            process.once(s, () => {
              resolve(s);
              // A second signal while draining means "now".
              process.once(s, () => process.exit(130));
            });
          }
        });
        const logger = stderrLogger(args.verbosity >= 2 ? 'trace' : args.verbosity === 1 ? 'debug' : 'info');
        return await runUp(selection.tunnels, { stdout: out, stderr: err, logger, stopSignal, metrics });
      }
      case 'exec': {
        const split = rest.indexOf('--');
        if (split < 0) throw new UsageError('put the command after --: mtls-tunnels exec NAME [--config FILE] -- COMMAND...');
        const command = rest.slice(split + 1);
        const args = parseArgs(rest.slice(0, split), ['config'], []);
        if (args.positionals.length !== 1) throw new UsageError(`name exactly one tunnel before --; ${args.positionals.length} given`);
        if (command.length === 0) throw new UsageError('no COMMAND after --');
        const selection = await selectTunnels(args.flags.get('config') as string | undefined, args.positionals);
        if (!selection.ok) return configFailure(selection.lines);
        const { runExec } = await import('./exec');
        // The command owns the terminal: only warnings and failures unless -v asks for more.
        const logger = stderrLogger(args.verbosity >= 2 ? 'trace' : args.verbosity === 1 ? 'info' : 'warn');
        return await runExec(selection.tunnels[0], command, { stderr: err, logger });
      }
      case 'check': {
        const args = parseArgs(rest, ['config'], ['json']);
        const selection = await selectTunnels(args.flags.get('config') as string | undefined, args.positionals);
        if (!selection.ok) return configFailure(selection.lines);
        const { runCheck } = await import('./check');
        return await runCheck(selection.tunnels, { stdout: out, stderr: err }, { json: args.flags.has('json') });
      }
      case 'export': {
        const args = parseArgs(rest, ['config', 'format'], []);
        const selection = await selectTunnels(args.flags.get('config') as string | undefined, args.positionals);
        if (!selection.ok) return configFailure(selection.lines);
        const { runExport, systemdContext } = await import('./export');
        return await runExport(selection.tunnels, args.flags.get('format') as string | undefined, { stdout: out, stderr: err }, systemdContext(selection.file));
      }
      case 'inspect': {
        const { runInspect } = await import('./inspect');
        return await runInspect(rest, { stdout: out, stderr: err });
      }
      default:
        err(`mtls-tunnels: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`mtls-tunnels ${command}: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

function configFailure(lines: string[]): number {
  for (const l of lines) err(`mtls-tunnels: ${l}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit once stdout is flushed: nothing the command started may keep the process alive.
    process.stdout.write('', () => process.exit(code));
  },
  (e: Error) => {
    err(`mtls-tunnels: unexpected error: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  },
);
