/**
 * The one error type certificate inspection throws: a sentence that names the file, and a code
 * the CLI and the extension can branch on without matching message text.
 */
export type CertificateFileErrorCode =
  | 'not-found'
  | 'unreadable'
  | 'unrecognized'
  | 'invalid'
  | 'passphrase-needed'
  | 'wrong-passphrase';

export class CertificateFileError extends Error {
  constructor(
    readonly code: CertificateFileErrorCode,
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'CertificateFileError';
  }
}

/** Turns a failed `readFile` into a sentence; anything else keeps its own message. */
export function readFailure(file: string, err: unknown): CertificateFileError {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new CertificateFileError('not-found', file, `no such file: ${file}`);
    case 'EACCES':
    case 'EPERM':
      return new CertificateFileError('unreadable', file, `cannot read ${file}: permission denied`);
    case 'EISDIR':
      return new CertificateFileError('unreadable', file, `${file} is a directory, not a file`);
    default:
      return new CertificateFileError('unreadable', file, `cannot read ${file}: ${(err as Error)?.message ?? String(err)}`);
  }
}
