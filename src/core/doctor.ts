/**
 * The handshake doctor: dials a tunnel's target once the way the tunnel would (credentials, DNS,
 * TCP, protocol preamble, TLS, server verification), then probes once more without a client
 * certificate to learn whether the server enforces mTLS. Nothing but the handshake is sent: no
 * application bytes, so checking a database never logs a failed login on it.
 */
import { X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { EXPIRES_SOON_DAYS } from './certs/validity';
import { TunnelConfig, formatEndpoint } from './config/model';
import { Phase, diagnose } from './diagnostics/diagnose';
import { Diagnosis } from './diagnostics/diagnosis';
import { Credentials, CredentialsError, loadCredentials } from './tls/credentials';
import { chainOf, sniFor, subjectAltNames } from './tls/identity';
import { firstHop, proxyConnect } from './tunnel/proxy';
import { HandshakeInfo, Upstream, UpstreamError, dialUpstream } from './tunnel/upstream';

export type Verdict = 'ok' | 'warning' | 'failed';

/** Milliseconds per phase; a phase the check did not get through is absent. */
export interface CheckTimings {
  /** With a proxy, DNS and TCP are the proxy's: the proxy resolves the target's name itself. */
  dnsMs: number;
  tcpMs?: number;
  /** The proxy's answer to CONNECT; absent without a proxy. */
  proxyMs?: number;
  /** The protocol's plaintext negotiation (PostgreSQL's SSLRequest); absent when there is none. */
  preambleMs?: number;
  tlsMs?: number;
}

/** One certificate as the check shows it. */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** ISO 8601. */
  validFrom: string;
  validTo: string;
  /** Whole days until `validTo`; negative once expired. */
  daysLeft: number;
  /** `DNS:x`, `IP:1.2.3.4`, `URI:…`: the syntax of `verify.subjectAltNames`. */
  subjectAltNames: string[];
}

export interface CheckReport {
  tunnel: string;
  /** `host:port` as configured. */
  target: string;
  protocol: TunnelConfig['protocol'];
  serverName: string;
  verdict: Verdict;
  /** The address DNS gave for the target host (not looked up when a proxy is on the way). */
  address?: string;
  /** The HTTP CONNECT proxy on the way, by its redacted URL; absent for a direct connection. */
  proxy?: { url: string; source: string; address?: string };
  /** Why `"proxy": "env"` resolved to a direct connection. */
  proxyBypass?: string;
  /** Present once DNS answered. */
  timings?: CheckTimings;
  handshake?: HandshakeInfo;
  /** The certificates the server presented, leaf first, also when verifying them failed. */
  serverChain: CertificateInfo[];
  /** The root from `ca` (or Node's CAs) that the server chain led to, when it led to one. */
  trustAnchor?: CertificateInfo;
  /** Our client certificate, when it was read. */
  clientCertificate?: CertificateInfo;
  /** true/false once known; undefined when the check did not get far enough to tell. */
  clientCertificateRequired?: boolean;
  diagnoses: Diagnosis[];
}

export interface CheckOptions {
  /** Passphrase for `key` or `pfx`; never logged. Defaults to the tunnel's `passphrase` (from the environment). */
  passphrase?: string;
  /** How long to wait after the handshake for a rejection (TLS 1.3 servers send it then); default 300 ms. */
  firstReadMs?: number;
}

const DAY_MS = 86_400_000;
const FIRST_READ_MS = 300;

export async function checkTunnel(config: TunnelConfig, options: CheckOptions = {}): Promise<CheckReport> {
  const report: CheckReport = {
    tunnel: config.name,
    target: formatEndpoint(config.target),
    protocol: config.protocol,
    serverName: config.serverName,
    verdict: 'ok',
    serverChain: [],
    diagnoses: [],
  };
  if (config.proxy) report.proxy = { url: config.proxy.url, source: config.proxy.source };
  if (config.proxyBypass) report.proxyBypass = config.proxyBypass;
  const done = () => {
    report.verdict = verdictOf(report.diagnoses);
    return report;
  };
  const firstReadMs = options.firstReadMs ?? FIRST_READ_MS;

  let credentials: Credentials;
  try {
    credentials = await loadCredentials(config, options.passphrase ?? config.passphrase);
  } catch (e) {
    if (!(e instanceof CredentialsError)) throw e;
    report.diagnoses.push(e.diagnosis);
    return done();
  }

  // Our own lookup, so a DNS failure is told apart from an unreachable host and timed on its own.
  // Through a proxy it is the proxy's name: the proxy resolves the target's, which may not
  // resolve here at all.
  const dnsStarted = performance.now();
  try {
    const resolved = await withTimeout(lookup(firstHop(config).host), config.connectTimeoutMs, () => {
      const e: NodeJS.ErrnoException = new Error(`DNS did not answer within ${config.connectTimeoutMs} ms`);
      e.code = 'EAI_AGAIN';
      return e;
    });
    if (report.proxy) report.proxy.address = resolved.address;
    else report.address = resolved.address;
  } catch (e) {
    report.diagnoses.push(diagnose(e, { config, phase: 'connect', clientCertificate: credentials.clientChain[0] }));
    return done();
  }
  report.timings = { dnsMs: performance.now() - dnsStarted };

  const main = await attempt(config, credentials, firstReadMs);
  const ours = credentials.clientChain[0] ?? main.localCertificate;
  if (ours) report.clientCertificate = describeCertificate(ours);
  if (main.upstream) {
    report.timings = { ...main.upstream.timings, dnsMs: report.timings.dnsMs };
    if (report.timings.preambleMs === 0 && config.protocol !== 'postgres') delete report.timings.preambleMs;
    report.handshake = main.upstream.handshake;
  }
  const peer = main.upstream?.peerCertificate ?? main.failure?.peerCertificate;
  if (peer) {
    const chain = describeChain(peer, await trustedCertificates(config));
    report.serverChain = chain.presented;
    report.trustAnchor = chain.anchor;
  }

  if (main.failure) {
    const { error, phase } = main.failure;
    const bareHangUp = (phase === 'handshake' || phase === 'first-read') && isBareHangUp(error);
    // An alert right after the handshake is the server refusing our certificate; a bare hang-up
    // could be anything, so ask the server what it does without one.
    const required = bareHangUp ? await demandsClientCertificate(config, credentials, firstReadMs) : phase === 'first-read' ? true : undefined;
    report.clientCertificateRequired = required;
    const plaintextReply = isPlaintextAnswer(error) && phase === 'handshake' ? await recordPlaintextAnswer(config) : undefined;
    const diagnosis = diagnose(error, { config, phase, peerCertificate: peer, clientCertificate: ours, serverRequiresClientCert: required, plaintextReply });
    report.diagnoses.push(diagnosis);
    if (ours) report.diagnoses.push(...clientValidity(config, ours, false).filter((d) => d.code !== diagnosis.code));
    return done();
  }

  report.clientCertificateRequired = await demandsClientCertificate(config, credentials, firstReadMs);
  if (report.clientCertificateRequired === false) {
    report.diagnoses.push({
      code: 'CLIENT_CERT_NOT_REQUESTED', severity: 'warning',
      summary: `Tunnel "${config.name}": ${report.target} did not require a client certificate during the TLS handshake: a connection without one got through.`,
      fix: 'If this server is meant to enforce mTLS, ask its operators to require client certificates (some check later instead: nginx with ssl_verify_client on answers HTTP 400, MySQL users created REQUIRE X509 are refused at login); if not, the tunnel works as it is.',
    });
  }
  if (ours) report.diagnoses.push(...clientValidity(config, ours, true));
  return done();
}

function verdictOf(diagnoses: Diagnosis[]): Verdict {
  if (diagnoses.some((d) => d.severity === 'error')) return 'failed';
  return diagnoses.some((d) => d.severity === 'warning') ? 'warning' : 'ok';
}

interface Attempt {
  /** Set when the handshake completed (even if the server refused us right after). */
  upstream?: Omit<Upstream, 'socket'>;
  failure?: { error: NodeJS.ErrnoException; phase: Phase; peerCertificate?: tls.DetailedPeerCertificate };
  /** Our leaf as sent, for PKCS#12 credentials whose chain is not parsed up front. */
  localCertificate?: X509Certificate;
}

/**
 * One dial as the tunnel makes it, then up to `firstReadMs` of listening without sending a byte:
 * TLS 1.3 servers check the client certificate after our Finished, so their refusal arrives as
 * an alert on the first read, after the handshake looked fine.
 */
async function attempt(config: TunnelConfig, credentials: Credentials, firstReadMs: number, secureContext?: tls.SecureContext): Promise<Attempt> {
  let upstream: Upstream;
  try {
    upstream = await dialUpstream(config, credentials, { secureContext });
  } catch (e) {
    const err = e instanceof UpstreamError ? e : new UpstreamError(e as NodeJS.ErrnoException, 'connect');
    return { failure: { error: err.error, phase: err.phase, peerCertificate: err.peerCertificate } };
  }
  const { socket, ...info } = upstream;
  const localCertificate = socket.getX509Certificate();
  const after = await firstRead(socket, firstReadMs);
  await closeQuietly(socket);
  if (after.kind === 'error' || after.kind === 'end') {
    const error = after.kind === 'error' ? after.error : closedAfterHandshake();
    return { upstream: info, localCertificate, failure: { error, phase: 'first-read', peerCertificate: info.peerCertificate } };
  }
  return { upstream: info, localCertificate };
}

/**
 * Handshakes again with the CA alone and no client identity. A server that enforces mTLS refuses
 * that with an alert, in the handshake (TLS 1.2) or right after it (TLS 1.3); one that lets it
 * through does not require a client certificate, at least not during the handshake.
 */
async function demandsClientCertificate(config: TunnelConfig, credentials: Credentials, firstReadMs: number): Promise<boolean | undefined> {
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ ca: config.ca ? await readFile(config.ca) : undefined, minVersion: config.minTlsVersion });
  } catch {
    return undefined;
  }
  const probe = await attempt(config, credentials, firstReadMs, context);
  if (!probe.failure) return false;
  const { error, phase } = probe.failure;
  if (phase === 'first-read') return true;
  // A bare reset in the handshake tells nothing (it may meet everyone); an alert does.
  return phase === 'handshake' && /ALERT/.test(error.code ?? '') ? true : undefined;
}

function isBareHangUp(error: NodeJS.ErrnoException): boolean {
  return ['ECONNRESET', 'EPIPE', 'ERR_MTLS_CLOSED_AFTER_HANDSHAKE'].includes(error.code ?? '') || error.message === 'socket hang up' || /socket disconnected before secure TLS/.test(error.message);
}

function isPlaintextAnswer(error: NodeJS.ErrnoException): boolean {
  return ['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_UNKNOWN_PROTOCOL'].includes(error.code ?? '');
}

/**
 * Sends the target our ClientHello once more, over a tap that keeps what comes back, to quote
 * the plaintext answer ("HTTP/1.1 400 Bad Request", "-ERR …"). Only for targets that expect TLS
 * from the first byte; PostgreSQL's answer to the SSLRequest is already in its diagnosis.
 */
async function recordPlaintextAnswer(config: TunnelConfig): Promise<string | undefined> {
  if (config.protocol !== 'tls' && config.protocol !== 'postgres-direct') return undefined;
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const raw = net.connect(firstHop(config));
    const tap = new Duplex({
      read() {},
      write(chunk, _encoding, callback) {
        raw.write(chunk, callback);
      },
      destroy(error, callback) {
        raw.destroy();
        callback(error);
      },
    });
    const finish = () => {
      clearTimeout(timer);
      tap.destroy();
      const text = Buffer.concat(received).subarray(0, 200).toString('latin1').split(/\r?\n/)[0].replace(/[^\x20-\x7e]/g, '').trim();
      resolve(text ? (text.length > 60 ? `${text.slice(0, 60)}…` : text) : undefined);
    };
    const timer = setTimeout(finish, Math.min(config.connectTimeoutMs, 2000));
    raw.on('error', finish);
    raw.once('connect', async () => {
      if (config.proxy) {
        try {
          await proxyConnect(raw, config.proxy, config.target);
        } catch {
          finish();
          return;
        }
      }
      // Only now: the proxy's own answer is not the target's.
      raw.on('data', (chunk: Buffer) => {
        received.push(chunk);
        tap.push(chunk);
      });
      raw.on('end', () => tap.push(null));
      // proxyConnect paused the socket, and a new 'data' listener does not undo an explicit pause.
      raw.resume();
      const socket = tls.connect({ socket: tap, secureContext: tls.createSecureContext({ minVersion: config.minTlsVersion }), servername: sniFor(config.serverName), ALPNProtocols: config.alpn.length > 0 ? config.alpn : undefined });
      socket.on('error', finish);
      socket.on('secureConnect', finish);
    });
  });
}

/** Splits off the root Node appended from our trust store, so the chain is what the server sent. */
function describeChain(peer: tls.PeerCertificate, trusted: Set<string>): { presented: CertificateInfo[]; anchor?: CertificateInfo } {
  const chain = chainOf(peer);
  const last = chain[chain.length - 1] as tls.DetailedPeerCertificate;
  const anchored = chain.length > 1 && last.issuerCertificate === last && trusted.has(last.raw.toString('base64'));
  const presented = (anchored ? chain.slice(0, -1) : chain).map((c) => describeCertificate(new X509Certificate(c.raw)));
  return { presented, anchor: anchored ? describeCertificate(new X509Certificate(last.raw)) : undefined };
}

/** DER (base64) of the certificates trusted for the server: `ca`, else Node's public CAs. */
async function trustedCertificates(config: TunnelConfig): Promise<Set<string>> {
  let pems: string[] = [...tls.rootCertificates];
  if (config.ca) {
    try {
      pems = (await readFile(config.ca, 'latin1')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    } catch {
      pems = [];
    }
  }
  return new Set(pems.map((pem) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '')));
}

function describeCertificate(cert: X509Certificate): CertificateInfo {
  const validTo = new Date(cert.validTo);
  const ms = validTo.getTime() - Date.now();
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: validTo.toISOString(),
    daysLeft: ms >= 0 ? Math.floor(ms / DAY_MS) : -Math.max(1, Math.floor(-ms / DAY_MS)),
    subjectAltNames: subjectAltNames({ subjectaltname: cert.subjectAltName }),
  };
}

const oneLine = (name: string) => name.split('\n').filter(Boolean).join(', ');

/**
 * Our certificate's own dates: expired or not yet valid (when the server did not already say so),
 * or close enough to its end to renew now.
 */
function clientValidity(config: TunnelConfig, leaf: X509Certificate, accepted: boolean): Diagnosis[] {
  const t = `Tunnel "${config.name}"`;
  const file = config.cert ?? config.pfx;
  const now = Date.now();
  const validTo = Date.parse(leaf.validTo);
  const validFrom = Date.parse(leaf.validFrom);
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const severity = accepted ? 'warning' : 'error';
  const anyway = accepted ? '; this server accepted it anyway, but servers that check will refuse it' : '';
  if (validTo < now) {
    return [{ code: 'CLIENT_CERT_EXPIRED', severity, summary: `${t}: your client certificate expired on ${day(validTo)}${anyway}.`, fix: `Renew the certificate in ${file}.` }];
  }
  if (validFrom > now) {
    return [{ code: 'CLIENT_CERT_NOT_YET_VALID', severity, summary: `${t}: your client certificate is not valid until ${day(validFrom)}${anyway}.`, fix: "Check this machine's clock, or use a certificate that is valid now." }];
  }
  const daysLeft = Math.floor((validTo - now) / DAY_MS);
  if (daysLeft <= EXPIRES_SOON_DAYS) {
    return [{ code: 'CLIENT_CERT_EXPIRES_SOON', severity: 'warning', summary: `${t}: your client certificate expires on ${day(validTo)}, in ${daysLeft} day${daysLeft === 1 ? '' : 's'}.`, fix: `Renew the certificate in ${file} before then, or the server will refuse the tunnel.` }];
  }
  return [];
}

type FirstRead = { kind: 'data' | 'quiet' | 'end' } | { kind: 'error'; error: NodeJS.ErrnoException };

/** Waits up to `ms` for what the server does after the handshake, without sending anything. */
function firstRead(socket: tls.TLSSocket, ms: number): Promise<FirstRead> {
  return new Promise((resolve) => {
    const finish = (r: FirstRead) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      // Later errors (a reset after our close) are expected and of no interest.
      socket.on('error', () => undefined);
      resolve(r);
    };
    const onData = () => finish({ kind: 'data' });
    const onEnd = () => finish({ kind: 'end' });
    const onError = (error: NodeJS.ErrnoException) => finish({ kind: 'error', error });
    const timer = setTimeout(() => finish({ kind: 'quiet' }), ms);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}

/**
 * close_notify and FIN, then let go once they are written: the server needs no more from us,
 * and waiting for its own close would stall on servers that keep a half-open socket.
 */
function closeQuietly(socket: tls.TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 500);
    socket.once('finish', done);
    socket.once('close', done);
    socket.on('error', () => undefined);
    socket.end();
  });
}

/** What the tunnel reports for the same silent close (see connection.ts), so both say the same. */
function closedAfterHandshake(): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error('the server closed the connection right after the handshake');
  e.code = 'ERR_MTLS_CLOSED_AFTER_HANDSHAKE';
  return e;
}

function withTimeout<T>(promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeoutError()), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Human text, for the CLI and the VS Code log.

const VERDICT_LINE: Record<Verdict, string> = {
  ok: 'Verdict: OK, the tunnel would work.',
  warning: 'Verdict: WARNING, the tunnel would work; see the warnings above.',
  failed: 'Verdict: FAILED, the tunnel would not work.',
};

const ms = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;
const date = (iso: string) => iso.slice(0, 10);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [`Tunnel "${report.tunnel}" → ${report.target} (${report.protocol}, server name ${report.serverName})`];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(12)}${value}`);
  const certificate = (indent: string, c: CertificateInfo) => {
    const left = c.daysLeft < 0 ? `expired ${plural(-c.daysLeft, 'day')} ago` : `${plural(c.daysLeft, 'day')} left`;
    lines.push(`${indent}issued by ${c.issuer}`);
    lines.push(`${indent}valid ${date(c.validFrom)} → ${date(c.validTo)} (${left})`);
    if (c.subjectAltNames.length > 0) lines.push(`${indent}SANs ${c.subjectAltNames.join(', ')}`);
  };

  const host = report.target.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (report.address && report.address !== host) row('Address', report.address);
  if (report.proxy) {
    const p = report.proxy;
    const proxyHost = p.url.replace(/^http:\/\/(\*\*\*@)?/, '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    row('Proxy', `${p.url} (HTTP CONNECT${p.source === 'settings' ? '' : `, from ${p.source}`}${p.address && p.address !== proxyHost ? `, address ${p.address}` : ''})`);
  } else if (report.proxyBypass) {
    row('Proxy', `none: ${report.proxyBypass}`);
  }
  if (report.timings) {
    const t = report.timings;
    const via = report.proxy ? ' (proxy)' : '';
    const parts = [`DNS${via} ${ms(t.dnsMs)}`];
    if (t.tcpMs !== undefined) parts.push(`TCP${via} ${ms(t.tcpMs)}`);
    if (t.proxyMs !== undefined) parts.push(`CONNECT ${ms(t.proxyMs)}`);
    if (t.preambleMs !== undefined) parts.push(`${report.protocol === 'postgres' ? 'SSLRequest' : 'Preamble'} ${ms(t.preambleMs)}`);
    if (t.tlsMs !== undefined) parts.push(`TLS ${ms(t.tlsMs)}`);
    row('Timings', parts.join(' · '));
  }
  if (report.handshake) {
    const h = report.handshake;
    row('TLS', `${h.version.replace(/^TLSv/, 'TLS ')}, ${h.cipher}, ALPN ${h.alpn || '—'}${h.resumed ? ', session resumed' : ''}`);
  }
  if (report.serverChain.length > 0) {
    lines.push('  Server chain');
    report.serverChain.forEach((c, i) => {
      lines.push(`    ${i}  ${c.subject}`);
      certificate('       ', c);
    });
    if (report.trustAnchor) lines.push(`    trusted through ${report.trustAnchor.subject}`);
  }
  if (report.clientCertificate) {
    const c = report.clientCertificate;
    row('Identity', `${c.subject}, issued by ${c.issuer}, ${c.daysLeft < 0 ? `expired ${date(c.validTo)}` : `${plural(c.daysLeft, 'day')} left`}`);
  }
  if (report.clientCertificateRequired !== undefined) {
    lines.push(`  Client certificate: ${report.clientCertificateRequired ? 'required by server' : 'NOT required (warning)'}`);
  }
  for (const d of report.diagnoses) {
    lines.push(`  ${d.severity === 'error' ? '✗' : d.severity === 'warning' ? '⚠' : 'ℹ'} ${d.summary}`);
    lines.push(`    → ${d.fix}`);
    if (d.detail) lines.push(`    (${d.detail.trim().replace(/\s*\n\s*/g, ' ')})`);
  }
  lines.push(`  ${VERDICT_LINE[report.verdict]}`);
  return lines.join('\n') + '\n';
}
