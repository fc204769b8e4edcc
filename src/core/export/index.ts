/**
 * `mtls-tunnels export`: one tunnel written as the equivalent ghostunnel, stunnel or Envoy sidecar
 * configuration, with what that tool cannot carry said in the file and in `notes`.
 */
import { TunnelConfig } from '../config/model';
import { envoyYaml } from './envoy';
import { ghostunnelScript } from './ghostunnel';
import { ExportResult, checkSingleLine } from './shared';
import { stunnelConf } from './stunnel';

export { ExportError } from './shared';
export type { ExportResult } from './shared';

export const EXPORT_FORMATS = ['ghostunnel', 'stunnel', 'envoy'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function isExportFormat(s: string): s is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(s);
}

/** Throws ExportError when a value cannot be written in any config file (a line break in a path). */
export function exportTunnel(config: TunnelConfig, format: ExportFormat): ExportResult {
  checkSingleLine(config);
  switch (format) {
    case 'ghostunnel':
      return ghostunnelScript(config);
    case 'stunnel':
      return stunnelConf(config);
    case 'envoy':
      return envoyYaml(config);
  }
}
