/**
 * The tunnel as a `ghostunnel client` command line in a shell script. Flags as ghostunnel's
 * main.go defines them; ghostunnel always verifies the server chain and host name (Go's
 * crypto/tls), and its `--verify-*` flags add a check on top of that.
 */
import { TunnelConfig, formatEndpoint, formatListen } from '../config/model';
import { ExportError, ExportResult, commentSafe, commonNotes, header, parseSan, proxyCredentialVariables, slug } from './shared';

/** ghostunnel's own test for a listen address that needs no `--unsafe-listen` (consideredSafe). */
const SAFE_LISTEN_PREFIXES = ['127.0.0.1:', '[::1]:', 'localhost:', 'unix:'];

export function ghostunnelScript(config: TunnelConfig): ExportResult {
  const notes = commonNotes(config, 'ghostunnel');
  const flags: (string | Expanded)[][] = [];
  // ghostunnel takes `unix:PATH` for a socket, as the settings do.
  const listen = formatListen(config.listen);
  flags.push(['--listen', listen], ['--target', formatEndpoint(config.target)]);
  if (config.targets.length > 1) {
    notes.push(`several targets: ghostunnel takes one --target, so only the first (${formatEndpoint(config.target)}) is used; ${config.targets.slice(1).map(formatEndpoint).join(', ')} ${config.targets.length > 2 ? 'are' : 'is'} left out (stunnel and Envoy exports carry them all)`);
  }
  if (!SAFE_LISTEN_PREFIXES.some((p) => listen.startsWith(p))) {
    flags.push(['--unsafe-listen']);
    notes.push(`ghostunnel only listens on 127.0.0.1, [::1] or localhost without --unsafe-listen; ${listen} needs it`);
  }

  const guards: string[] = [];
  if (config.pfx) {
    flags.push(['--keystore', config.pfx]);
    if (config.passphrase !== undefined) {
      guards.push(': "${KEYSTORE_PASS:?set KEYSTORE_PASS to the PKCS#12 passphrase}"');
      notes.push('the PKCS#12 passphrase is not written here: ghostunnel reads it from the KEYSTORE_PASS environment variable');
    }
  } else {
    // cert alone is a combined PEM (certificate and key in one file): ghostunnel's --keystore takes that.
    if (config.key === undefined) flags.push(['--keystore', config.cert ?? '']);
    else flags.push(['--cert', config.cert ?? ''], ['--key', config.key]);
    if (config.passphrase !== undefined) {
      notes.push('the private key is encrypted, and ghostunnel reads only unencrypted PEM keys (--storepass is for PKCS#12 keystores): decrypt the key, or bundle cert and key as PKCS#12 and use --keystore');
    }
  }
  if (config.ca) flags.push(['--cacert', config.ca]);
  else notes.push("no ca: ghostunnel trusts the system store, where mtls-tunnels trusts Node's bundled roots");
  if (config.serverName !== config.target.host) flags.push(['--override-server-name', config.serverName]);

  const verifyFlags = { DNS: '--verify-dns', URI: '--verify-uri', IP: '--verify-ip' } as const;
  let verified = 0;
  for (const san of config.verify.subjectAltNames.map(parseSan)) {
    if (san.type === 'email') {
      notes.push(`verify.subjectAltNames email:${san.value}: ghostunnel has no flag for e-mail SANs (no equivalent)`);
      continue;
    }
    flags.push([verifyFlags[san.type], san.value]);
    verified++;
  }
  if (verified > 1) notes.push('ghostunnel accepts a server carrying any one of the --verify-* names; mtls-tunnels requires all of them');

  if (config.proxy) flags.push(['--proxy', proxyArgument(config, guards, notes)]);
  flags.push(['--connect-timeout', goDuration(config.connectTimeoutMs)]);
  // ghostunnel's default is 10 s, the tunnel's 60 s: always said.
  if (config.closeTimeoutMs > 0) flags.push(['--close-timeout', goDuration(config.closeTimeoutMs)]);
  else notes.push('closeTimeoutMs 0 (no bound on a half-closed connection): ghostunnel always bounds it, so its default --close-timeout of 10s applies');
  if (config.maxConnectionLifetimeMs > 0) {
    flags.push(['--max-conn-lifetime', goDuration(config.maxConnectionLifetimeMs)]);
    notes.push('maxConnectionLifetimeMs: ghostunnel counts --max-conn-lifetime from the TLS handshake, mtls-tunnels from accepting the local connection');
  }
  if (config.resumption !== 'once') notes.push(`resumption ${config.resumption}: ghostunnel has no setting for TLS session resumption (not carried)`);
  if (config.crl) notes.push('crl: ghostunnel does not check the server\'s certificate against a CRL in client mode (no equivalent): a revoked server certificate is accepted');
  if (config.maxConnections > 0) flags.push(['--max-concurrent-conns', String(config.maxConnections)]);
  if (config.idleTimeoutMs > 0) notes.push('idleTimeoutMs: ghostunnel has no idle timeout (--max-conn-lifetime caps a connection\'s whole life, not its idle time)');
  if (config.minTlsVersion === 'TLSv1.3') notes.push('minTlsVersion TLSv1.3: ghostunnel has no flag for a minimum version (it allows TLS 1.2 and 1.3)');
  if (config.verify.spkiSha256.length > 0) notes.push('verify.spkiSha256: ghostunnel has no key pinning (no equivalent)');
  if (config.alpn.length > 0) notes.push(`alpn ${config.alpn.join(', ')}: ghostunnel offers no ALPN (no equivalent)`);

  const refusal = cannotCarry(config);
  if (refusal) notes.push(refusal);

  const command = ['exec ghostunnel client \\', ...flags.map((f, i) => `  ${f.map((a) => (a instanceof Expanded ? a.text : shellQuote(a))).join(' ')}${i < flags.length - 1 ? ' \\' : ''}`)];
  const body = refusal
    ? [`echo ${shellQuote(`ghostunnel cannot carry protocol ${config.protocol} (see the comments above); not starting`)} >&2`, 'exit 1', ...command.map((l) => `# ${l}`)]
    : [...guards, ...command];
  const text = ['#!/bin/sh', ...header('#', config, 'ghostunnel', 'a ghostunnel client', notes), 'set -eu', ...body, ''].join('\n');
  return { text, fileName: `${slug(config.name)}.ghostunnel.sh`, notes };
}

/** A shell word written as is: double-quoted, with `$VAR` expansions the script relies on. */
class Expanded {
  constructor(readonly text: string) {}
}

/**
 * `--proxy` (ghostunnel dials HTTP CONNECT proxies itself, and sends a URL's user info as Basic
 * credentials). A password is never written: the URL takes it from the same environment
 * variable the tunnel reads, when the script runs.
 */
function proxyArgument(config: TunnelConfig, guards: string[], notes: string[]): string | Expanded {
  const proxy = config.proxy!;
  const creds = proxyCredentialVariables(config);
  const plain = proxy.url.replace('***@', '');
  if (!creds) return plain;
  const need = (variable: string, what: string) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
      throw new ExportError(`tunnel "${commentSafe(config.name)}": proxy: the environment variable "${commentSafe(variable)}" is not a name a shell can read; rename it to letters, digits and _`);
    }
    guards.push(`: "\${${variable}:?set ${variable} to ${what}}"`);
  };
  if (creds.wholeUrl) {
    need(creds.wholeUrl, 'the proxy URL');
    notes.push(`the proxy URL, credentials included, is not written here: the script passes $${creds.wholeUrl} to --proxy when it runs`);
    return new Expanded(`"$${creds.wholeUrl}"`);
  }
  const user = creds.user ? `\${${creds.user}}` : doubleQuoted(creds.userLiteral ?? '');
  if (creds.user) need(creds.user, 'the proxy user name');
  if (creds.password) need(creds.password, 'the proxy password');
  const variables = [creds.user, creds.password].filter((v): v is string => v !== undefined);
  if (variables.length > 0) notes.push(`the proxy credentials are not written here: the script reads ${variables.map((v) => `$${v}`).join(' and ')} into the --proxy URL when it runs (percent-encode any : @ / % in them)`);
  return new Expanded(`"http://${user}${creds.password ? `:\${${creds.password}}` : ''}@${plain.slice('http://'.length)}"`);
}

/** Text safe inside double quotes: `\`, `"`, `$` and backquote escaped. */
function doubleQuoted(s: string): string {
  return s.replace(/[\\"$`]/g, (c) => `\\${c}`);
}

/** Why ghostunnel cannot run this tunnel at all, or undefined when it can. */
function cannotCarry(config: TunnelConfig): string | undefined {
  switch (config.protocol) {
    case 'tls':
      return undefined;
    case 'postgres':
      return 'protocol postgres: ghostunnel speaks TLS from the first byte and cannot send PostgreSQL\'s SSLRequest first, so the server never starts TLS; the command below is commented out (use stunnel\'s protocol = pgsql, Envoy\'s postgres_proxy, or protocol postgres-direct with PostgreSQL 17)';
    case 'postgres-direct':
      return 'protocol postgres-direct: PostgreSQL 17 refuses a direct TLS connection that does not offer ALPN "postgresql", and ghostunnel offers no ALPN; the command below is commented out';
    case 'mysql':
      return 'protocol mysql: MySQL starts in plaintext and upgrades to TLS inside its own handshake, which ghostunnel does not speak (ghostunnel issue #402); the command below is commented out';
  }
}

/** A Go duration: `10s`, or `1500ms` when not whole seconds. */
function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Bare when only safe characters, else single-quoted (a quote inside becomes '\''). */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
