/**
 * The logging interface the core writes to. VS Code's LogOutputChannel satisfies it as is; the CLI
 * gives a stderr logger; tests give `silentLogger` or a recording one. Never pass key material,
 * passphrases or payload bytes to it.
 *
 * A logger may say which level it shows (`logLevel`, VS Code's LogLevel numbering, which
 * LogOutputChannel already carries); then lines on the hot path below that level are not even
 * built: guard them with `logsAt(logger, LogLevel.Debug)`. A logger without `logLevel` gets
 * every line and filters itself.
 */
export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** The lowest level shown (VS Code's `LogLevel`: 0 off, 1 trace … 5 error); absent: every line. */
  readonly logLevel?: number;
}

/** VS Code's `LogLevel` values, without importing `vscode`. */
export const LogLevel = { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 } as const;

/** Whether a line at `level` would be shown: build it only then. */
export function logsAt(logger: Logger, level: number): boolean {
  const shown = logger.logLevel;
  return shown === undefined || (shown !== LogLevel.Off && shown <= level);
}

export const silentLogger: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, logLevel: LogLevel.Off };

/** A logger whose lines start with `[name] `; it shows what `base` shows, read live. */
export function prefixedLogger(base: Logger, name: string): Logger {
  const p = `[${name}] `;
  return {
    trace: (m) => base.trace(p + m),
    debug: (m) => base.debug(p + m),
    info: (m) => base.info(p + m),
    warn: (m) => base.warn(p + m),
    error: (m) => base.error(p + m),
    get logLevel() {
      return base.logLevel;
    },
  };
}
