/**
 * The logging interface the core writes to. VS Code's LogOutputChannel satisfies it as is; the CLI
 * gives a stderr logger; tests give `silentLogger` or a recording one. Never pass key material,
 * passphrases or payload bytes to it.
 */
export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** A logger whose lines start with `[name] `. */
export function prefixedLogger(base: Logger, name: string): Logger {
  const p = `[${name}] `;
  return {
    trace: (m) => base.trace(p + m),
    debug: (m) => base.debug(p + m),
    info: (m) => base.info(p + m),
    warn: (m) => base.warn(p + m),
    error: (m) => base.error(p + m),
  };
}
