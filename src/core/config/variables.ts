/**
 * `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~`, as VS Code users write them.
 * An unknown variable or an unset environment variable is an error, never an empty string: a
 * silently empty path would point a tunnel at the wrong file.
 */
import * as os from 'node:os';

export interface VariableContext {
  workspaceFolder?: string;
  userHome?: string;
  env?: NodeJS.ProcessEnv;
}

export type Substitution = { ok: true; value: string } | { ok: false; message: string };

export function substituteVariables(input: string, ctx: VariableContext): Substitution {
  const home = ctx.userHome ?? os.homedir();
  const env = ctx.env ?? process.env;
  let problem: string | undefined;
  let value = input.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
    if (name === 'workspaceFolder') {
      if (ctx.workspaceFolder === undefined) problem ??= `${whole} is used but there is no workspace folder`;
      return ctx.workspaceFolder ?? '';
    }
    if (name === 'userHome') return home;
    if (name.startsWith('env:')) {
      const key = name.slice(4);
      const v = env[key];
      if (v === undefined) problem ??= `environment variable ${key} is not set (used as ${whole})`;
      return v ?? '';
    }
    problem ??= `unknown variable ${whole} (use \${workspaceFolder}, \${userHome} or \${env:NAME})`;
    return whole;
  });
  if (problem) return { ok: false, message: problem };
  if (value === '~' || value.startsWith('~/')) value = home + value.slice(1);
  return { ok: true, value };
}
