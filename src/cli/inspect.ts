/**
 * `mtls-tunnels inspect FILE… [--json] [--passphrase-env NAME]`: what is in these certificate,
 * key and PKCS#12 files, and what is wrong with them. The passphrase comes from an environment
 * variable, never from the command line, where `ps` and shell history would keep it.
 */
import { CertificateFileErrorCode, formatInspections, inspectFiles } from '../core/certs';

export interface InspectIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export const INSPECT_USAGE = `usage: mtls-tunnels inspect FILE... [--json] [--passphrase-env NAME]

Summarizes certificates, chains, private keys and PKCS#12 bundles: subject, issuer, SANs,
validity and days left, key type and size, fingerprints, SPKI pin, EKU, whether each key
matches a certificate (across all FILEs given), and chain order.

  --json                 print a JSON array, one object per file
  --passphrase-env NAME  read the passphrase for encrypted keys and PKCS#12 bundles
                         from the environment variable NAME
`;

interface InspectArgs {
  files: string[];
  json: boolean;
  passphraseEnv?: string;
  help: boolean;
}

class UsageError extends Error {}

function parseArgs(args: readonly string[]): InspectArgs {
  const parsed: InspectArgs = { files: [], json: false, help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      parsed.files.push(...args.slice(i + 1));
      break;
    } else if (arg === '--json') {
      parsed.json = true;
    } else if (arg === '-h' || arg === '--help') {
      parsed.help = true;
    } else if (arg === '--passphrase-env' || arg.startsWith('--passphrase-env=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i];
      if (!value) throw new UsageError('--passphrase-env needs the name of an environment variable');
      parsed.passphraseEnv = value;
    } else if (arg.startsWith('-') && arg !== '-') {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      parsed.files.push(arg);
    }
  }
  if (!parsed.help && parsed.files.length === 0) throw new UsageError('no FILE given');
  return parsed;
}

function passphraseFrom(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const value = process.env[name];
  if (value === undefined) throw new UsageError(`environment variable ${name} (from --passphrase-env) is not set`);
  return value;
}

const HINTS: Partial<Record<CertificateFileErrorCode, string>> = {
  'passphrase-needed': ' (put it in an environment variable and pass --passphrase-env NAME)',
};

/** `args` are the words after `inspect`. Returns the exit code: 0 ok, 1 a file failed, 2 usage. */
export async function runInspect(args: string[], io: InspectIo): Promise<number> {
  let parsed: InspectArgs;
  let passphrase: string | undefined;
  try {
    parsed = parseArgs(args);
    passphrase = passphraseFrom(parsed.passphraseEnv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`mtls-tunnels inspect: ${err.message}\n${INSPECT_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    io.stdout(INSPECT_USAGE);
    return 0;
  }

  const results = await inspectFiles(parsed.files, { passphrase });
  io.stdout(parsed.json ? JSON.stringify(results, null, 2) + '\n' : formatInspections(results));
  let failed = false;
  for (const { error } of results) {
    if (!error) continue;
    failed = true;
    io.stderr(`mtls-tunnels inspect: ${error.message}${HINTS[error.code] ?? ''}\n`);
  }
  return failed ? 1 : 0;
}
