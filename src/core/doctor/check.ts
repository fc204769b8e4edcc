/**
 * The check, step by step: credentials, DNS, the dial as the tunnel makes it, then what the
 * server does without our certificate. Nothing but the handshake is sent: no application bytes,
 * so checking a database never logs a failed login on it.
 */
import { lookup } from 'node:dns/promises';
import { TunnelConfig, formatEndpoint } from '../config/model';
import { clientValidity } from '../diagnostics/clientValidity';
import { diagnose } from '../diagnostics/diagnose';
import { Credentials, CredentialsError, loadCredentials } from '../tls/credentials';
import { firstHop } from '../tunnel/proxy';
import { describeCertificate, describeChain, trustedCertificates } from './certificates';
import { recordPlaintextAnswer } from './plaintext';
import { attempt, demandsClientCertificate, isBareHangUp, isPlaintextAnswer } from './probes';
import { CheckOptions, CheckReport, verdictOf } from './report';

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
    const resolved = await resolveFirstHop(config);
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
    const plaintextReply = isPlaintextAnswer(error) && phase === 'handshake' ? await recordPlaintextAnswer(config, credentials) : undefined;
    const diagnosis = diagnose(error, { config, phase, peerCertificate: peer, clientCertificate: ours, clientChain: credentials.clientChain, serverRequiresClientCert: required, plaintextReply });
    report.diagnoses.push(diagnosis);
    const dates = ours && clientValidity(config, ours, 'refused');
    if (dates && dates.code !== diagnosis.code) report.diagnoses.push(dates);
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
  const dates = ours && clientValidity(config, ours, 'accepted');
  if (dates) report.diagnoses.push(dates);
  return done();
}

/** The first hop's address, within the connect timeout (a lookup has none of its own). */
async function resolveFirstHop(config: TunnelConfig): Promise<{ address: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e: NodeJS.ErrnoException = new Error(`DNS did not answer within ${config.connectTimeoutMs} ms`);
      e.code = 'EAI_AGAIN';
      reject(e);
    }, config.connectTimeoutMs);
  });
  try {
    return await Promise.race([lookup(firstHop(config).host), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
