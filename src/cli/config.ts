/** Loading the tunnels a CLI command works on: config file, errors (exit 2), name selection. */
import { TunnelConfig } from '../core/config/model';
import { ConfigFileError, DEFAULT_CONFIG_FILE, loadConfigFile } from '../core/config/file';

export type Selection = { ok: true; tunnels: TunnelConfig[]; file: string } | { ok: false; lines: string[] };

export async function selectTunnels(file: string | undefined, names: string[]): Promise<Selection> {
  const path = file ?? DEFAULT_CONFIG_FILE;
  let loaded;
  try {
    loaded = await loadConfigFile(path);
  } catch (e) {
    if (e instanceof ConfigFileError) {
      const hint = file === undefined && e.reason === 'missing' ? ' (run in a workspace folder, or pass --config FILE)' : '';
      return { ok: false, lines: [`${e.message}${hint}`] };
    }
    throw e;
  }
  if (loaded.errors.length > 0) return { ok: false, lines: loaded.errors.map((e) => `${path}: ${e.toString()}`) };
  if (loaded.tunnels.length === 0) return { ok: false, lines: [`${path}: no tunnels are defined`] };
  const known = new Map(loaded.tunnels.map((t) => [t.name, t]));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    return { ok: false, lines: unknown.map((n) => `${path}: no tunnel named "${n}" (defined: ${[...known.keys()].join(', ')})`) };
  }
  return { ok: true, file: path, tunnels: names.length > 0 ? names.map((n) => known.get(n)!) : loaded.tunnels };
}
