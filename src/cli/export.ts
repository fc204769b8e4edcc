/**
 * `mtls-tunnels export NAME --format ghostunnel|stunnel|envoy|systemd`: the file on stdout, its
 * notes on stderr. `systemd` is not a sidecar but a unit that runs this very command line's
 * `up`, so it needs to know where node, this script and the settings file are.
 */
import * as path from 'node:path';
import { TunnelConfig } from '../core/config/model';
import { EXPORT_FORMATS, ExportError, ExportResult, exportTunnel, isExportFormat } from '../core/export';
import { SystemdContext, systemdUnit } from '../core/export/systemd';

export interface ExportIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

/** Where the unit finds node, mtls-tunnels and the settings: this process' own, made absolute. */
export function systemdContext(configFile: string): SystemdContext {
  return { node: process.execPath, cli: path.resolve(process.argv[1] ?? 'mtls-tunnels'), configFile: path.resolve(configFile) };
}

export async function runExport(tunnels: TunnelConfig[], format: string | undefined, io: ExportIo, systemd?: SystemdContext): Promise<number> {
  const formats = [...EXPORT_FORMATS, 'systemd'].join(', ');
  if (format === undefined) {
    io.stderr(`mtls-tunnels export: --format is required (${formats})\n`);
    return 2;
  }
  if (!isExportFormat(format) && format !== 'systemd') {
    io.stderr(`mtls-tunnels export: unknown format "${format}"; use one of ${formats}\n`);
    return 2;
  }
  if (tunnels.length !== 1) {
    const names = tunnels.map((t) => t.name).join(', ');
    io.stderr(`mtls-tunnels export: name exactly one tunnel (mtls-tunnels export NAME --format ${format}); ${tunnels.length} selected: ${names}\n`);
    return 2;
  }
  const [tunnel] = tunnels;
  let result: ExportResult;
  try {
    if (format !== 'systemd') result = exportTunnel(tunnel, format);
    else if (systemd) result = systemdUnit(tunnel, systemd);
    else throw new ExportError('a systemd unit needs the settings file it runs the tunnel from');
  } catch (e) {
    if (e instanceof ExportError) {
      io.stderr(`mtls-tunnels export: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  io.stdout(result.text);
  for (const note of result.notes) io.stderr(`mtls-tunnels export: ${tunnel.name}: ${note}\n`);
  io.stderr(`mtls-tunnels export: ${tunnel.name}: written as ${format}; suggested file name ${result.fileName}\n`);
  return 0;
}
