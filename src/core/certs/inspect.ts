/**
 * Inspection of a set of files given together (`inspect client.crt client.key`): each file is
 * summarized on its own, but a key is matched against the certificates of every file in the set,
 * because a certificate and its key usually live in separate files.
 */
import { KeyObject } from 'node:crypto';
import { CertificateFileError, CertificateFileErrorCode } from './errors';
import { ChainCheck, checkChainOrder } from './chain';
import { FileKind, LoadedFile, readCertificateFile } from './files';
import { certificateMatchingKey } from './match';
import { PrivateKeyFormat } from './privateKeys';
import { KeyAlgorithm, describeKey, spkiSha256 } from './publicKey';
import { CertificateSummary, summarizeCertificate } from './summary';
import { dayCount as days, daysUntil, isoDay } from './validity';

export interface KeySummary {
  format: PrivateKeyFormat;
  encrypted: boolean;
  /** Null when the key is encrypted and no passphrase was given. */
  algorithm: KeyAlgorithm | null;
  /** Pin of the key's public half: equal to the `spkiSha256` of its certificate. */
  spkiSha256: string | null;
  /** The certificate the key belongs to: `index` into that file's `certificates`. */
  matches: { file: string; index: number } | null;
}

export interface FileInspection {
  file: string;
  kind: FileKind | null;
  certificates: CertificateSummary[];
  keys: KeySummary[];
  /** Null for a single certificate or a CA bundle, where order means nothing. */
  chain: ChainCheck | null;
  warnings: string[];
  /** Set when the file could not be read at all; the other fields are then empty. */
  error: { code: CertificateFileErrorCode; message: string } | null;
}

export interface InspectOptions {
  /** For encrypted keys and PKCS#12 bundles. Never stored in the result. */
  passphrase?: string;
  /** The clock for days left; tests pin it. */
  now?: Date;
}

function validityWarning(cert: CertificateSummary, n: number, now: Date): string | null {
  const name = `certificate ${n} (${cert.subject})`;
  switch (cert.status) {
    case 'expired':
      return `${name} expired ${days(-cert.daysLeft)} ago`;
    case 'not yet valid': {
      return `${name} is not valid until ${isoDay(cert.validFrom)} (in ${days(daysUntil(cert.validFrom, now))})`;
    }
    case 'expires soon':
      return `${name} expires in ${days(cert.daysLeft)}`;
    case 'valid':
      return null;
  }
}

function failed(file: string, err: unknown): FileInspection {
  const error = err instanceof CertificateFileError
    ? { code: err.code, message: err.message }
    : { code: 'invalid' as const, message: `${file}: ${(err as Error)?.message ?? String(err)}` };
  return { file, kind: null, certificates: [], keys: [], chain: null, warnings: [], error };
}

/** Its own file first: a PKCS#12 key belongs with the certificate bundled beside it. */
function owningCertificate(key: KeyObject, own: LoadedFile, all: LoadedFile[]): KeySummary['matches'] {
  for (const file of [own, ...all.filter((f) => f !== own)]) {
    const index = certificateMatchingKey(file.certificates, key);
    if (index >= 0) return { file: file.file, index };
  }
  return null;
}

function summarizeKeys(loaded: LoadedFile, all: LoadedFile[]): { keys: KeySummary[]; warnings: string[] } {
  const anyCertificates = all.some((f) => f.certificates.length > 0);
  const warnings: string[] = [];
  const keys = loaded.keys.map((k, i): KeySummary => {
    const matches = k.key ? owningCertificate(k.key, loaded, all) : null;
    if (k.key) {
      if (!matches && anyCertificates) warnings.push(`private key ${i + 1} does not match any certificate`);
    } else {
      warnings.push(`private key ${i + 1} is encrypted: give its passphrase to see what it is and which certificate it matches`);
    }
    return {
      format: k.format,
      encrypted: k.encrypted,
      algorithm: k.key ? describeKey(k.key) : null,
      spkiSha256: k.key ? spkiSha256(k.key) : null,
      matches,
    };
  });
  return { keys, warnings };
}

function summarizeFile(loaded: LoadedFile, all: LoadedFile[], now: Date): FileInspection {
  const certificates = loaded.certificates.map((c) => summarizeCertificate(c, now));
  const chain = checkChainOrder(loaded.certificates);
  const { keys, warnings: keyWarnings } = summarizeKeys(loaded, all);
  const warnings = [
    ...certificates.map((c, i) => validityWarning(c, i + 1, now)).filter((w): w is string => w !== null),
    ...(chain?.problems ?? []),
    ...keyWarnings,
    ...loaded.notes,
  ];
  return { file: loaded.file, kind: loaded.kind, certificates, keys, chain, warnings, error: null };
}

type ReadOutcome = { ok: true; loaded: LoadedFile } | { ok: false; file: string; err: unknown };

/** One result per file, in the order given; a file that cannot be read gets `error`, never a throw. */
export async function inspectFiles(files: readonly string[], options: InspectOptions = {}): Promise<FileInspection[]> {
  const now = options.now ?? new Date();
  const outcomes = await Promise.all(
    files.map((file): Promise<ReadOutcome> =>
      readCertificateFile(file, options.passphrase).then(
        (loaded) => ({ ok: true, loaded }),
        (err: unknown) => ({ ok: false, file, err }),
      ),
    ),
  );
  const readable = outcomes.flatMap((o) => (o.ok ? [o.loaded] : []));
  return outcomes.map((o) => (o.ok ? summarizeFile(o.loaded, readable, now) : failed(o.file, o.err)));
}
