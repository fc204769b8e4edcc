/**
 * Reads tunnels from the files the CLI accepts: `.vscode/settings.json` (JSONC, key
 * `mtlsTunnels.tunnels`), a `.code-workspace` file (`settings` → `mtlsTunnels.tunnels`), or a plain
 * `{ "tunnels": [...] }` file. `${workspaceFolder}` is the folder that holds `.vscode`, or the
 * folder of the file itself.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ParseError, parse, printParseErrorCode } from 'jsonc-parser';
import { ConfigError } from './model';
import { ParseResult, parseTunnels } from './parse';
import { VariableContext } from './variables';

export const SETTINGS_KEY = 'mtlsTunnels.tunnels';
export const DEFAULT_CONFIG_FILE = path.join('.vscode', 'settings.json');

export interface ConfigFileResult extends ParseResult {
  file: string;
  workspaceFolder: string;
}

export class ConfigFileError extends Error {
  /** `missing`: the file does not exist (callers add where to look); `invalid`: anything else. */
  constructor(readonly file: string, message: string, readonly reason: 'missing' | 'invalid' = 'invalid') {
    super(`${file}: ${message}`);
  }
}

export function workspaceFolderOf(file: string): string {
  const dir = path.dirname(path.resolve(file));
  return path.basename(dir) === '.vscode' ? path.dirname(dir) : dir;
}

/** Raw tunnel entries from a settings text, or a ConfigFileError describing why there are none. */
export function extractTunnels(text: string, file: string): unknown {
  const problems: ParseError[] = [];
  let doc: unknown;
  try {
    doc = parse(text, problems, { allowTrailingComma: true, disallowComments: false });
  } catch (e) {
    // jsonc-parser recurses once per level of nesting: some thousands of `[` exhaust the stack.
    if (e instanceof RangeError) throw new ConfigFileError(file, 'nests arrays or objects too deeply to be read (thousands of levels)');
    throw e;
  }
  if (problems.length > 0) {
    const p = problems[0];
    const before = text.slice(0, p.offset);
    const line = before.split('\n').length;
    const column = p.offset - before.lastIndexOf('\n');
    throw new ConfigFileError(file, `not valid JSON at line ${line}, column ${column}: ${printParseErrorCode(p.error)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigFileError(file, 'must hold a JSON object');
  const o = doc as Record<string, unknown>;
  if (SETTINGS_KEY in o) return o[SETTINGS_KEY];
  if ('tunnels' in o) return o.tunnels;
  const settings = o.settings as Record<string, unknown> | undefined;
  if (typeof settings === 'object' && settings !== null && SETTINGS_KEY in settings) return settings[SETTINGS_KEY];
  throw new ConfigFileError(file, `has no "${SETTINGS_KEY}" (settings.json or settings of a .code-workspace) and no "tunnels" key`);
}

export async function loadConfigFile(file: string, vars: Omit<VariableContext, 'workspaceFolder'> = {}): Promise<ConfigFileResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw code === 'ENOENT' ? new ConfigFileError(file, 'no such file', 'missing') : new ConfigFileError(file, `cannot be read (${code ?? String(e)})`);
  }
  const workspaceFolder = workspaceFolderOf(file);
  const result = parseTunnels(extractTunnels(text, file), { ...vars, workspaceFolder });
  return { ...result, file, workspaceFolder };
}

export { ConfigError };
