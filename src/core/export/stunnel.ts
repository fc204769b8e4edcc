/**
 * The tunnel as an stunnel.conf service section in client mode. Option names and behaviour as
 * stunnel 5's manual and source give them: `cert` takes PEM or, by a .p12/.pfx extension,
 * PKCS#12; a passphrase is asked on the terminal, never read from the environment.
 */
import { TunnelConfig, formatEndpoint, isSocketPath } from '../config/model';
import { ExportResult, SYSTEM_CA_BUNDLE, ceilSeconds, commonNotes, header, isIp, parseSan, proxyCredentialVariables, slug } from './shared';

/** stunnel's own idle timeout when TIMEOUTidle is not set: 12 hours. */
const STUNNEL_DEFAULT_IDLE_S = 43_200;

export function stunnelConf(config: TunnelConfig): ExportResult {
  const notes = commonNotes(config, 'stunnel');
  // stunnel takes a socket path for `accept` (Unix only); it creates it with its own umask.
  const service: string[] = [`[${slug(config.name)}]`, 'client = yes', `accept = ${isSocketPath(config.listen) ? config.listen.path : address(config.listen)}`];
  if (isSocketPath(config.listen)) notes.push('stunnel creates the unix socket with its umask, not mode 0600: run it with umask 077 so only its user can connect');
  const several = config.targets.length > 1;
  if (config.proxy) {
    // stunnel's `connect` protocol: TCP to the proxy, CONNECT to protocolHost, then TLS inside.
    service.push(`; through the HTTP proxy ${config.proxy.url}: stunnel sends CONNECT ${formatEndpoint(config.target)} before the handshake`, `connect = ${address(config.proxy)}`);
    if (several) notes.push(`several targets through a proxy: stunnel's protocolHost names one target, so only the first (${formatEndpoint(config.target)}) is carried`);
  } else if (several) {
    // Several connect lines: stunnel tries them in order (prio) or starting one further each time (rr).
    service.push(`; ${config.targets.length} targets, ${config.targetPolicy}`, ...config.targets.map((t) => `connect = ${address(t)}`), `failover = ${config.targetPolicy === 'round-robin' ? 'rr' : 'prio'}`);
    notes.push('several targets: stunnel tries them in order on every connection and does not skip one that just failed for a backoff window as mtls-tunnels does');
  } else {
    service.push(`connect = ${address(config.target)}`);
  }

  if (config.pfx) {
    service.push(`cert = ${config.pfx}`);
    if (!/\.(p12|pfx)$/i.test(config.pfx)) notes.push('stunnel reads a PKCS#12 bundle only when its name ends in .p12 or .pfx; rename or link the file');
    notes.push("stunnel uses the certificate and key from the PKCS#12 bundle but not the CA certificates in it; if the server needs your intermediate, export cert and key as PEM instead");
  } else {
    // Without key, stunnel reads the key from the cert file: a combined PEM as it is.
    service.push(`cert = ${config.cert ?? ''}`);
    if (config.key !== undefined) service.push(`key = ${config.key}`);
  }
  if (config.passphrase !== undefined) {
    notes.push('stunnel cannot read a passphrase from the environment: it tries an empty one, then asks on the terminal (foreground only); for a sidecar, use an unencrypted key readable only by stunnel\'s user');
  }

  if (config.ca) service.push(`CAfile = ${config.ca}`);
  else {
    service.push(`; no ca in the tunnel: the system bundle (Debian/Ubuntu path); stunnel needs a CA file to verify`, `CAfile = ${SYSTEM_CA_BUNDLE}`);
    notes.push(`no ca: stunnel needs a CA file, so this uses the system bundle ${SYSTEM_CA_BUNDLE} where mtls-tunnels trusts Node's bundled roots`);
  }
  service.push('verifyChain = yes');
  if (config.crl) {
    // stunnel, like mtls-tunnels, checks every certificate of the chain against it (CRL_CHECK_ALL).
    service.push(`CRLfile = ${config.crl}`);
    notes.push('crl: stunnel reads the CRL file when it starts and when it reloads (SIGHUP), not when the file changes');
  }
  const names = [...new Set((config.proxy ? config.targets.slice(0, 1) : config.targets).map((t) => t.serverName))];
  if (names.length > 1) {
    // One service, one SNI and one set of names: each target's own name cannot be tied to it.
    service.push('; each target\'s host is its server name, and stunnel accepts any one of these from every target', ...names.map((n) => (isIp(n) ? `checkIP = ${n}` : `checkHost = ${n}`)));
    const sni = names.find((n) => !isIp(n));
    service.push(sni ? `sni = ${sni}` : 'sni =');
    notes.push(`several targets with their own server names: stunnel checks a service's certificate against all its checkHost/checkIP names, so any target may present any of ${names.join(', ')}, and it sends one SNI (${sni ?? 'none'}) to all; set "serverName" if the servers share a name, or export one tunnel per target`);
  } else if (isIp(config.serverName)) {
    service.push(`checkIP = ${config.serverName}`, '; no SNI for an IP address, as mtls-tunnels does', 'sni =');
  } else {
    service.push(`checkHost = ${config.serverName}`, `sni = ${config.serverName}`);
  }
  for (const san of config.verify.subjectAltNames.map(parseSan)) {
    service.push(`; verify.subjectAltNames ${san.type}:${san.value}: not carried (see the header)`);
    notes.push(`verify.subjectAltNames ${san.type}:${san.value}: stunnel accepts a certificate matching any one checkHost/checkIP/checkEmail, so adding it would let it stand in for the server name; mtls-tunnels requires both (no equivalent)`);
  }
  service.push(`sslVersionMin = ${config.minTlsVersion}`);

  const connectS = ceilSeconds(config.connectTimeoutMs);
  service.push('; TIMEOUTconnect covers the TCP connect; stunnel times the TLS handshake with TIMEOUTbusy', `TIMEOUTconnect = ${connectS}`);
  if (config.idleTimeoutMs > 0) service.push(`TIMEOUTidle = ${ceilSeconds(config.idleTimeoutMs)}`);
  else {
    service.push(`; no idle timeout in the tunnel; stunnel has no "none" and closes idle connections after ${STUNNEL_DEFAULT_IDLE_S} s by default`);
    notes.push(`idleTimeoutMs 0 (none): stunnel always has an idle timeout (default ${STUNNEL_DEFAULT_IDLE_S} s); raise TIMEOUTidle if connections sit idle longer`);
  }
  if (config.closeTimeoutMs > 0) {
    service.push('; closeTimeoutMs: stunnel waits this long for the close_notify of a closing peer', `TIMEOUTclose = ${ceilSeconds(config.closeTimeoutMs)}`);
  } else {
    notes.push('closeTimeoutMs 0 (no bound on a half-closed connection): stunnel has no such setting (TIMEOUTclose = 0 means not waiting at all), so its default of 60 s applies');
  }
  if (config.maxConnectionLifetimeMs > 0) notes.push('maxConnectionLifetimeMs: stunnel cannot close a connection after a fixed lifetime (no equivalent)');
  if (config.resumption === 'off') service.push('; resumption off: a full handshake every time', 'sessionResume = no');
  if (config.resumption === 'reuse') notes.push('resumption reuse: stunnel has no setting to offer one session ticket on every connection; its session cache resumes each session once (no equivalent)');
  if (config.maxConnections > 0) notes.push('maxConnections: stunnel has no per-service connection limit (no equivalent)');
  if (config.verify.spkiSha256.length > 0) notes.push('verify.spkiSha256: stunnel has no key pinning (closest: verifyPeer = yes with the server certificate itself in CAfile, which pins the certificate rather than its key)');
  if (config.alpn.length > 0 && config.protocol !== 'postgres-direct') notes.push(`alpn ${config.alpn.join(', ')}: stunnel offers no ALPN (no equivalent)`);

  let carried = true;
  switch (config.protocol) {
    case 'tls':
      if (config.proxy) service.push(...proxyLines(config, notes));
      break;
    case 'postgres':
      if (config.proxy) {
        carried = false;
        notes.push('proxy with protocol postgres: a stunnel service has one protocol, and both the proxy (protocol = connect) and PostgreSQL (protocol = pgsql) need it; the service is commented out');
      }
      service.push(
        '; stunnel sends the SSLRequest to the server itself, but does not answer the one psql sends by default:',
        '; clients must connect with sslmode=disable (e.g. psql "host=127.0.0.1 sslmode=disable ...")',
        'protocol = pgsql',
      );
      notes.push('protocol postgres: stunnel (protocol = pgsql) does not answer psql\'s own SSLRequest, so clients need sslmode=disable; mtls-tunnels answers it for them');
      break;
    case 'postgres-direct':
      carried = false;
      notes.push('protocol postgres-direct: PostgreSQL 17 refuses a direct TLS connection that does not offer ALPN "postgresql", and stunnel offers no ALPN; the service is commented out (protocol postgres with protocol = pgsql works instead)');
      break;
    case 'mysql':
      carried = false;
      notes.push('protocol mysql: MySQL upgrades to TLS inside its own handshake and stunnel has no protocol mode for it; the service is commented out');
      break;
  }

  const lines = [
    ...header(';', config, 'stunnel', 'an stunnel client service', notes),
    ';',
    '; Global options, for running this file on its own (stunnel FILE):',
    '; foreground = yes',
    '; pid =',
    '',
    ...(carried ? service : service.map((l) => (l.startsWith(';') ? l : `; ${l}`))),
    '',
  ];
  return { text: lines.join('\n'), fileName: `${slug(config.name)}.stunnel.conf`, notes };
}

/**
 * `protocol = connect` and, when the proxy wants credentials, where they would go: stunnel reads
 * them only from this file, and mtls-tunnels never writes a password, so those lines stay
 * commented with the variables they come from.
 */
function proxyLines(config: TunnelConfig, notes: string[]): string[] {
  const lines = ['protocol = connect', `protocolHost = ${formatEndpoint(config.target)}`];
  const creds = proxyCredentialVariables(config);
  if (!creds) return lines;
  const from = (variable: string | undefined, literal?: string) => literal ?? (variable ? `the value of \$${variable}` : 'empty');
  lines.push(
    '; the proxy wants Basic credentials, and stunnel reads them only from this file: fill both in and',
    '; keep the file readable by stunnel\'s user alone (mtls-tunnels never writes a password)',
    '; protocolAuthentication = basic',
    creds.wholeUrl
      ? `; protocolUsername = (the user name in \$${creds.wholeUrl})`
      : creds.userLiteral !== undefined ? `; protocolUsername = ${creds.userLiteral}` : `; protocolUsername = (${from(creds.user)})`,
    `; protocolPassword = (${creds.wholeUrl ? `the password in \$${creds.wholeUrl}` : from(creds.password)})`,
  );
  notes.push('proxy credentials: stunnel cannot read them from the environment (protocolUsername and protocolPassword live in the file), so they are left commented out; without them the proxy refuses the CONNECT');
  return lines;
}

/** stunnel's `[HOST:]PORT`, IPv6 hosts without brackets (it splits at the last colon). */
function address(e: { host: string; port: number }): string {
  return `${e.host}:${e.port}`;
}
