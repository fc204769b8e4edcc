/** `mtls-tunnels export NAME --format ghostunnel|stunnel|envoy`: the file on stdout, its notes on stderr. */
import { TunnelConfig } from '../core/config/model';
import { EXPORT_FORMATS, ExportError, exportTunnel, isExportFormat } from '../core/export';

export interface ExportIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

export async function runExport(tunnels: TunnelConfig[], format: string | undefined, io: ExportIo): Promise<number> {
  const formats = EXPORT_FORMATS.join(', ');
  if (format === undefined) {
    io.stderr(`mtls-tunnels export: --format is required (${formats})\n`);
    return 2;
  }
  if (!isExportFormat(format)) {
    io.stderr(`mtls-tunnels export: unknown format "${format}"; use one of ${formats}\n`);
    return 2;
  }
  if (tunnels.length !== 1) {
    const names = tunnels.map((t) => t.name).join(', ');
    io.stderr(`mtls-tunnels export: name exactly one tunnel (mtls-tunnels export NAME --format ${format}); ${tunnels.length} selected: ${names}\n`);
    return 2;
  }
  const [tunnel] = tunnels;
  let result;
  try {
    result = exportTunnel(tunnel, format);
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
