/**
 * A tunnel's client identity and trust anchors, loaded once into one SecureContext that every
 * connection shares (a context per connection costs a full PEM parse and ~50 KiB each).
 * Loading fails fast with a Diagnosis: a missing file, a malformed PEM, a key that does not
 * belong to the certificate, a wrong passphrase.
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as tls from 'node:tls';
import { commonNameOf, oneLineName } from '../certs/names';
import { pemCertificates, splitPem } from '../certs/pem';
import { privateKeyBlock } from '../certs/privateKeys';
import { dayCount, validityOf } from '../certs/validity';
import { TunnelConfig } from '../config/model';
import { Diagnosis } from '../diagnostics/diagnosis';
import { isUnsupportedPkcs12, legacyPkcs12Identity } from './legacyPkcs12';

export interface Credentials {
  context: tls.SecureContext;
  /** The client certificate chain when it came from PEM files (PKCS#12 chains are read at handshake). */
  clientChain: X509Certificate[];
  /** The client certificate itself, from PEM files or a PKCS#12 bundle alike (expiry metric, health). */
  leaf?: X509Certificate;
  /** The files the credentials came from, to watch for changes. */
  files: string[];
  /** Description for logs, e.g. `cert client.crt (CN=alice, 364 days left)`. */
  description: string;
  /**
   * SHA-256 over every byte the credentials were made from (files and command output): equal
   * digests mean a reload after a change on disk found nothing new (a renewal already taken, a
   * file touched). Never the passphrase.
   */
  digest: string;
}

export class CredentialsError extends Error {
  constructor(readonly diagnosis: Diagnosis, readonly field: string) {
    super(diagnosis.summary);
  }
}

type CredentialFields = Pick<TunnelConfig, 'name' | 'cert' | 'key' | 'pfx' | 'ca' | 'crl' | 'minTlsVersion'>;

async function readCredentialFile(tunnel: string, field: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CredentialsError({ code: 'FILE_MISSING', severity: 'error', summary: `Tunnel "${tunnel}": the ${field} file ${file} does not exist.`, fix: `Check the "${field}" path in the tunnel's settings.` }, field);
    }
    throw new CredentialsError({ code: 'FILE_UNREADABLE', severity: 'error', summary: `Tunnel "${tunnel}": the ${field} file ${file} cannot be read (${code ?? 'error'}).`, fix: code === 'EACCES' ? 'Give your user read permission on it.' : 'Make sure the path points to a readable file.' }, field);
  }
}

function parseCertificates(tunnel: string, field: string, file: string, pem: Buffer): X509Certificate[] {
  const text = pem.toString('latin1');
  const blocks = pemCertificates(text);
  const fail = (why: string): never => {
    throw new CredentialsError({ code: 'PEM_MALFORMED', severity: 'error', summary: `Tunnel "${tunnel}": the ${field} file ${file} ${why}.`, fix: `Point "${field}" at a PEM file that starts with -----BEGIN CERTIFICATE-----.` }, field);
  };
  if (blocks.length === 0) fail(privateKeyBlock(text) ? 'holds a private key, not a certificate' : 'holds no PEM certificate');
  return blocks.map((b) => {
    try {
      return new X509Certificate(b.der);
    } catch {
      return fail('holds a certificate block that cannot be parsed');
    }
  });
}

/**
 * The CRLs in a PEM file, one block each: Node reads only the first CRL of a string, and with a
 * CRL set OpenSSL checks every certificate of the server's chain, so a file usually holds one CRL
 * per CA (the intermediate's and the root's). Each is parsed here so a bad one names "crl".
 */
function parseCrls(tunnel: string, file: string, pem: Buffer): string[] {
  const fail = (why: string): never => {
    throw new CredentialsError({ code: 'PEM_MALFORMED', severity: 'error', summary: `Tunnel "${tunnel}": the crl file ${file} ${why}.`, fix: 'Point "crl" at a PEM file of CRLs (-----BEGIN X509 CRL-----), e.g. `openssl crl -inform DER -in ca.crl -out ca.crl.pem` for a DER one.' }, 'crl');
  };
  const blocks = splitPem(pem.toString('latin1')).filter((b) => b.label === 'X509 CRL');
  if (blocks.length === 0) fail('holds no PEM CRL');
  return blocks.map((b, i) => {
    try {
      tls.createSecureContext({ crl: b.pem });
    } catch {
      fail(`holds a CRL that cannot be parsed (block ${i + 1})`);
    }
    return b.pem;
  });
}

/**
 * A certificate (chain) and key that did not come from the files: the PEM an `identityCommand`
 * printed. Held in memory only; `source` names it in sentences instead of a path.
 */
export interface SuppliedIdentity {
  cert: Buffer;
  key: Buffer;
  source: string;
}

/**
 * Loads and checks credentials; throws CredentialsError. The passphrase is never logged or kept.
 * With `supplied`, the certificate and key are those instead of the `cert`/`key` files.
 */
export async function loadCredentials(config: CredentialFields, passphrase?: string, supplied?: SuppliedIdentity): Promise<Credentials> {
  const t = config.name;
  const options: tls.SecureContextOptions = { minVersion: config.minTlsVersion };
  const digest = createHash('sha256');
  const files: string[] = [];
  let clientChain: X509Certificate[] = [];
  let description: string;

  if (config.pfx && !supplied) {
    files.push(config.pfx);
    options.pfx = await readCredentialFile(t, 'pfx', config.pfx);
    digest.update(options.pfx);
    options.passphrase = passphrase ?? '';
    description = `pfx ${config.pfx}`;
  } else if (supplied || config.cert) {
    // identityCommand's output (in memory), or the files; without "key", the key is in the cert
    // file (a combined PEM, as ghostunnel's --keystore).
    const certName = supplied?.source ?? config.cert!;
    const combined = !supplied && !config.key;
    const keyField = combined ? 'cert' : 'key';
    if (!supplied) files.push(config.cert!, ...(config.key ? [config.key] : []));
    const [cert, keyFile] = supplied
      ? [supplied.cert, supplied.key]
      : await Promise.all([readCredentialFile(t, 'cert', certName), config.key ? readCredentialFile(t, 'key', config.key) : undefined]);
    clientChain = parseCertificates(t, 'cert', certName, cert);
    const key = keyFile ?? keyInCertFile(t, certName, cert);
    digest.update(cert).update(key);
    const keyFileName = supplied?.source ?? config.key ?? certName;
    const keyName = combined ? `the private key in ${certName}` : `the private key ${keyFileName}`;
    let privateKey;
    try {
      privateKey = createPrivateKey({ key, passphrase });
    } catch (e) {
      throw new CredentialsError(keyProblem(t, keyField, keyFileName, e as NodeJS.ErrnoException, passphrase !== undefined), keyField);
    }
    if (!clientChain[0].checkPrivateKey(privateKey)) {
      throw new CredentialsError({
        code: 'KEY_CERT_MISMATCH', severity: 'error',
        summary: `Tunnel "${t}": ${keyName} does not belong to the certificate ${certName} (${oneLineName(clientChain[0].subject)}).`,
        fix: 'Use the key that was generated with this certificate, or the certificate issued for this key.',
      }, keyField);
    }
    // A combined file gives OpenSSL its certificates and its key apart, each as clean PEM.
    options.cert = combined ? pemCertificates(cert.toString('latin1')).map((b) => b.pem).join('') : cert;
    options.key = key;
    options.passphrase = passphrase;
    description = `cert ${certName} (${identityLabel(clientChain[0])})`;
  } else {
    throw new CredentialsError({ code: 'FILE_MISSING', severity: 'error', summary: `Tunnel "${t}" has no client identity.`, fix: 'Set cert (and key, unless the cert file holds it), or pfx.' }, 'cert');
  }

  if (config.ca) {
    files.push(config.ca);
    const ca = await readCredentialFile(t, 'ca', config.ca);
    digest.update(ca);
    parseCertificates(t, 'ca', config.ca, ca);
    options.ca = ca;
  }
  if (config.crl) {
    files.push(config.crl);
    const crl = await readCredentialFile(t, 'crl', config.crl);
    digest.update(crl);
    options.crl = parseCrls(t, config.crl, crl);
  }

  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext(options);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!config.pfx) {
      throw new CredentialsError({ code: 'PEM_MALFORMED', severity: 'error', summary: `Tunnel "${t}": the client credentials cannot be used.`, fix: 'Check the cert, key and ca files.', detail: err.message }, 'cert');
    }
    // A wrong passphrase fails OpenSSL's MAC check before the encryption matters, so only a
    // bundle that opened far enough reaches node-forge.
    if (!isUnsupportedPkcs12(err)) throw new CredentialsError(pfxProblem(t, config.pfx, passphrase, /mac verify failure|bad decrypt/i.test(err.message), err.message), 'pfx');
    try {
      context = tls.createSecureContext({ ...options, pfx: undefined, passphrase: undefined, ...(await legacyPkcs12Identity(config.pfx, passphrase)) });
    } catch (legacy) {
      const code = (legacy as { code?: string }).code;
      throw new CredentialsError(pfxProblem(t, config.pfx, passphrase, code === 'wrong-passphrase' || code === 'passphrase-needed', (legacy as Error).message), 'pfx');
    }
  }
  const leaf = clientChain[0] ?? contextLeaf(context);
  if (config.pfx && leaf) description = `pfx ${config.pfx} (${identityLabel(leaf)})`;
  return { context, clientChain, files, description, leaf, digest: digest.digest('hex') };
}

/**
 * The certificate a SecureContext presents, read back from OpenSSL: for a PKCS#12 bundle the only
 * way to its leaf without decoding the bundle a second time (node-forge, which cannot read EC
 * certificates). `context.getCertificate()` is the native SecureContext's, which Node's own TLS
 * code calls; absent (a future Node) it is simply not known.
 */
function contextLeaf(context: tls.SecureContext): X509Certificate | undefined {
  const native = (context as { context?: { getCertificate?: () => Buffer | null } }).context;
  try {
    const der = typeof native?.getCertificate === 'function' ? native.getCertificate() : null;
    return der ? new X509Certificate(der) : undefined;
  } catch {
    return undefined;
  }
}

function identityLabel(leaf: X509Certificate): string {
  const cn = commonNameOf(leaf.subject);
  return `${cn === null ? oneLineName(leaf.subject) : `CN=${cn}`}, ${dayCount(validityOf(leaf).daysLeft)} left`;
}

/**
 * What a renewal shows while it is half written: the new certificate beside the old key, a file
 * not yet complete, a file between its removal and its replacement.
 */
const HALF_WRITTEN: ReadonlySet<string> = new Set(['KEY_CERT_MISMATCH', 'PEM_MALFORMED', 'FILE_MISSING']);

/** Waits before each further try of a reload after a change on disk: under two seconds in all. */
export const SETTLE_WAITS_MS = [250, 500, 1000];

export interface SettleOptions {
  /** Told before each wait (a debug line); the diagnosis is not the user's yet. */
  onWait?: (diagnosis: Diagnosis, ms: number) => void;
  /** False ends the tries early (the tunnel stopped). */
  wanted?: () => boolean;
  waitsMs?: readonly number[];
}

/**
 * loadCredentials for files that just changed on disk: a renewal that writes cert and key one after
 * the other is seen between the two, so a half-written look is tried again a few times before its
 * diagnosis is the user's. Files that stay wrong fail with the last diagnosis.
 */
export async function loadSettledCredentials(config: CredentialFields, passphrase: string | undefined, options: SettleOptions = {}): Promise<Credentials> {
  const waits = options.waitsMs ?? SETTLE_WAITS_MS;
  for (let i = 0; ; i++) {
    try {
      return await loadCredentials(config, passphrase);
    } catch (e) {
      if (!(e instanceof CredentialsError) || !HALF_WRITTEN.has(e.diagnosis.code) || i >= waits.length || options.wanted?.() === false) throw e;
      options.onWait?.(e.diagnosis, waits[i]);
      await new Promise((resolve) => setTimeout(resolve, waits[i]));
    }
  }
}

function pfxProblem(tunnel: string, file: string, passphrase: string | undefined, passphraseFailed: boolean, detail: string): Diagnosis {
  if (passphraseFailed) {
    return { code: passphrase ? 'WRONG_PASSPHRASE' : 'PASSPHRASE_REQUIRED', severity: 'error', summary: passphrase ? `Tunnel "${tunnel}": the passphrase for ${file} is wrong.` : `Tunnel "${tunnel}": ${file} is protected by a passphrase and none was given.`, fix: 'Enter the PKCS#12 passphrase again (or set the environment variable the "passphrase" field names).' };
  }
  return { code: 'PEM_MALFORMED', severity: 'error', summary: `Tunnel "${tunnel}": ${file} is not a readable PKCS#12 bundle.`, fix: 'Point "pfx" at a .p12/.pfx file, or use cert and key for PEM files.', detail };
}

/** The private key block of a combined PEM (certificates and key in one file); its absence names "cert". */
function keyInCertFile(tunnel: string, file: string, pem: Buffer): Buffer {
  const block = privateKeyBlock(pem.toString('latin1'));
  if (block) return Buffer.from(block.pem, 'latin1');
  throw new CredentialsError({
    code: 'PEM_MALFORMED', severity: 'error',
    summary: `Tunnel "${tunnel}": the cert file ${file} holds no private key, and "key" is not set.`,
    fix: `Set "key" to the certificate's private key file, or append the key to ${file} (certificates and key in one PEM file).`,
  }, 'cert');
}

function keyProblem(tunnel: string, field: 'key' | 'cert', file: string, err: NodeJS.ErrnoException, hadPassphrase: boolean): Diagnosis {
  const msg = err.message ?? '';
  // OpenSSL 3 (Node 18+) does not say "passphrase" for an encrypted key read without one: its
  // password callback is cancelled and it reports "interrupted or cancelled".
  const cancelled = err.code === 'ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED';
  if (err.code === 'ERR_MISSING_PASSPHRASE' || ((cancelled || /passphrase/i.test(msg)) && !hadPassphrase)) {
    return { code: 'PASSPHRASE_REQUIRED', severity: 'error', summary: `Tunnel "${tunnel}": the private key ${file} is encrypted and no passphrase was given.`, fix: 'Enter its passphrase when asked, or set "passphrase" to an environment reference like "${env:KEY_PASSPHRASE}".' };
  }
  if (/bad decrypt/i.test(msg) || (hadPassphrase && /decrypt|passphrase/i.test(msg))) {
    return { code: 'WRONG_PASSPHRASE', severity: 'error', summary: `Tunnel "${tunnel}": the passphrase for the private key ${file} is wrong.`, fix: 'Enter the passphrase again.' };
  }
  return { code: 'PEM_MALFORMED', severity: 'error', summary: `Tunnel "${tunnel}": the ${field} file ${file} holds no readable private key.`, fix: `Point "${field}" at a PEM file with a private key (-----BEGIN PRIVATE KEY----- or RSA/EC PRIVATE KEY).`, detail: err.code };
}
