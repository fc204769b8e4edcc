/** The CLI's logger: timestamped lines on stderr, filtered by level (-v debug, -vv trace). */
import { Logger } from '../core/log';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

export function stderrLogger(min: Level, write: (s: string) => void = (s) => process.stderr.write(s)): Logger {
  const at = LEVELS.indexOf(min);
  const line = (level: Level) => (message: string) => {
    if (LEVELS.indexOf(level) < at) return;
    write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}\n`);
  };
  // logLevel in VS Code's numbering (trace 1 … error 5), so the core does not build lines this filters out.
  return { trace: line('trace'), debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), logLevel: at + 1 };
}
