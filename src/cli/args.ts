/** A small argument parser: positionals, `--flag`, `--key value` / `--key=value`, `-v`/`-vv`. */
export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
  verbosity: number;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], valued: string[], boolean: string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  let verbosity = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (/^-v+$/.test(a)) {
      verbosity += a.length - 1;
      continue;
    }
    if (a === '--verbose') {
      verbosity++;
      continue;
    }
    if (a.startsWith('--')) {
      const [key, inline] = a.slice(2).split(/=(.*)/s, 2);
      if (valued.includes(key)) {
        const value = inline ?? argv[++i];
        if (value === undefined) throw new UsageError(`--${key} needs a value`);
        flags.set(key, value);
      } else if (boolean.includes(key) && inline === undefined) {
        flags.set(key, true);
      } else {
        throw new UsageError(`unknown option --${key}`);
      }
      continue;
    }
    if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
    positionals.push(a);
  }
  return { positionals, flags, verbosity };
}
