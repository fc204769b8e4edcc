/**
 * The check, step by step: credentials, DNS, the dial as the tunnel makes it, what the server
 * does without our certificate, then the login: once TLS works, one request in the application's
 * own protocol (login.ts) and its answer quoted. Before that nothing but the handshake is sent.
 */
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { TunnelConfig, forTarget, formatEndpoint } from '../config/model';
import { clientValidity } from '../diagnostics/clientValidity';
import { diagnose } from '../diagnostics/diagnose';
import { isBareHangUp, isPlaintextAnswer } from '../diagnostics/errorShapes';
import { Credentials, CredentialsError, loadCredentials } from '../tls/credentials';
import { ClientIdentity } from '../tls/renewal';
import { silentLogger } from '../log';
import { firstHop } from '../tunnel/proxy';
import { describeCertificate, describeChain, trustedCertificates } from './certificates';
import { recordPlaintextAnswer } from './plaintext';
import { clientKind, clientUser } from '../clientEnv';
import { commonNameOf } from '../certs/names';
import { loginDiagnosis } from '../diagnostics/login';
import { protocolMismatch } from '../diagnostics/protocolMismatch';
import { checkLogin } from './login';
import { identifyService } from './protocolProbe';
import { acceptedClientCas } from './clientCas';
import { anonymousContext, attempt, demandsClientCertificate } from './probes';
import { CheckOptions, CheckReport, verdictOf } from './report';

const FIRST_READ_MS = 300;
/** Diagnoses of a server refusing our certificate, which its list of acceptable CAs can settle. */
const REFUSED_OURS = new Set(['CLIENT_CERT_UNKNOWN_CA', 'CLIENT_CERT_REJECTED', 'CLIENT_CERT_REQUIRED', 'CLIENT_CHAIN_INCOMPLETE']);

/** The identity a starting tunnel would present: the files, or what its identityCommand gives when they will not do. */
async function clientCredentials(config: TunnelConfig, passphrase: string | undefined, runCommand: boolean): Promise<Credentials> {
  if (!config.identityCommand || !runCommand) return loadCredentials(config, passphrase);
  const identity = new ClientIdentity({ logger: silentLogger, config: () => config, passphrase: () => passphrase, reload: async () => false, report: () => undefined, commandsAllowed: true });
  try {
    return await identity.load(config, passphrase, true);
  } finally {
    identity.dispose();
  }
}

/**
 * The check of a tunnel. With several targets, every target is checked (at once) as if it were
 * the only one, each report under `targets`; the tunnel's verdict is the worst of theirs, so a
 * broken standby fails the check even though the tunnel would fail over past it: `check` is
 * where you learn it is broken, before the day you need it. Its diagnoses are each target's,
 * naming the target.
 */
export async function checkTunnel(config: TunnelConfig, options: CheckOptions = {}): Promise<CheckReport> {
  if (config.targets.length <= 1) return checkTarget(config, options);
  const targets = await Promise.all(config.targets.map((_, i) => checkTarget(forTarget(config, i), options)));
  const prefix = `Tunnel "${config.name}": `;
  const diagnoses = targets.flatMap((r) => r.diagnoses.map((d) => ({ ...d, summary: `Tunnel "${config.name}", target ${r.target}: ${d.summary.startsWith(prefix) ? d.summary.slice(prefix.length) : d.summary}` })));
  return {
    tunnel: config.name,
    target: config.targets.map(formatEndpoint).join(', '),
    targetPolicy: config.targetPolicy,
    protocol: config.protocol,
    serverName: config.serverName,
    verdict: verdictOf(diagnoses),
    serverChain: [],
    diagnoses,
    targets,
  };
}

async function checkTarget(config: TunnelConfig, options: CheckOptions): Promise<CheckReport> {
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
    credentials = await clientCredentials(config, options.passphrase ?? config.passphrase, options.runIdentityCommand === true);
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
    let diagnosis = diagnose(error, { config, phase, peerCertificate: peer, clientCertificate: ours, clientChain: credentials.clientChain, serverRequiresClientCert: required, plaintextReply });
    // A failure that smells of the wrong "protocol": ask the port what it is.
    if (!peer && required !== true && suggestsWrongProtocol(config.protocol, phase, error, bareHangUp)) {
      const found = await identifyService(config, await anonymousContext(config));
      const mismatch = found && protocolMismatch(config, found, diagnosis.detail);
      if (mismatch) diagnosis = mismatch;
    }
    // The server refused our certificate: where it names the CAs it accepts, compare, do not guess.
    if (REFUSED_OURS.has(diagnosis.code)) {
      const ca = config.ca ? await readFile(config.ca).catch(() => undefined) : undefined;
      const listed = await acceptedClientCas(config, credentials, ca);
      if ('names' in listed) {
        report.acceptedClientCas = listed.names;
        diagnosis = diagnose(error, { config, phase, peerCertificate: peer, clientCertificate: ours, clientChain: credentials.clientChain, serverRequiresClientCert: required, acceptedClientCas: listed });
      } else {
        report.acceptedClientCasUnavailable = listed.unavailable;
      }
    }
    report.diagnoses.push(diagnosis);
    const dates = ours && clientValidity(config, ours, 'refused');
    if (dates && dates.code !== diagnosis.code) report.diagnoses.push(dates);
    return done();
  }

  report.clientCertificateRequired = await demandsClientCertificate(config, credentials, firstReadMs);
  if (report.clientCertificateRequired) report.clientCertificateCheckedAt = 'handshake';

  // The login as the tunnel's user: the certificate's CN unless "user" says otherwise.
  const commonName = ours ? commonNameOf(ours.subject) ?? undefined : undefined;
  const who = { user: clientUser({ user: config.user, certificateCommonName: commonName }), database: config.database, certificateCommonName: commonName };
  report.login = await checkLogin(config, credentials, who);
  const loginFinding = report.login && loginDiagnosis(config, report.login, who);
  if (loginFinding) report.diagnoses.push(loginFinding);

  // PostgreSQL asks for a certificate in the handshake but enforces it in pg_hba, at login; nginx
  // with ssl_verify_client on answers HTTP 400. The same request without one says whether it is required.
  let withoutCertificate: string | undefined;
  const kind = clientKind(config);
  if (report.clientCertificateRequired === false && (kind === 'postgres' || kind === 'http') && report.login && report.login.outcome !== 'no-answer' && report.login.outcome !== 'skipped') {
    const context = await anonymousContext(config);
    const bare = context && (await checkLogin(config, credentials, who, context));
    const refused = kind === 'postgres' ? bare?.outcome === 'refused' : bare !== undefined && bare.answer !== report.login.answer && /^HTTP\/\S+ (400|401|403|495|496)\b/.test(bare.answer);
    if (bare && refused) {
      report.clientCertificateRequired = true;
      report.clientCertificateCheckedAt = 'login';
      report.loginWithoutCertificate = bare.answer;
    } else if (bare) {
      withoutCertificate = kind === 'http' ? `without one ${report.login.asked} was answered "${bare.answer}" too` : bare.outcome === 'accepted' ? `PostgreSQL even let "${who.user}" log in without one` : `without one PostgreSQL answered the login with "${bare.answer}"`;
    }
  }
  if (report.clientCertificateRequired === false) {
    report.diagnoses.push({
      code: 'CLIENT_CERT_NOT_REQUESTED', severity: 'warning',
      summary: `Tunnel "${config.name}": ${report.target} did not require a client certificate during the TLS handshake: a connection without one got through${withoutCertificate ? `, and ${withoutCertificate}` : ''}.`,
      fix: 'If this server is meant to enforce mTLS, ask its operators to require client certificates (some check later instead: nginx with ssl_verify_client on answers HTTP 400, MySQL users created REQUIRE X509 are refused at login); if not, the tunnel works as it is.',
    });
  }
  const dates = ours && clientValidity(config, ours, 'accepted');
  if (dates) report.diagnoses.push(dates);
  return done();
}

/**
 * A reset or plaintext in a TLS handshake (PostgreSQL takes a ClientHello for a bad startup packet;
 * MySQL greets first), or a preamble that got a strange answer or none (a TLS port waits silently
 * for a MySQL client, or answers an SSLRequest with an alert).
 */
function suggestsWrongProtocol(protocol: TunnelConfig['protocol'], phase: string, error: NodeJS.ErrnoException, bareHangUp: boolean): boolean {
  const timeout = error.code === 'ERR_MTLS_CONNECT_TIMEOUT';
  if (protocol === 'tls' || protocol === 'postgres-direct') return phase === 'handshake' && (bareHangUp || isPlaintextAnswer(error) || timeout);
  return phase === 'preamble' && ['PROTOCOL_ERROR', 'TARGET_SPEAKS_PLAINTEXT', 'ERR_MTLS_CONNECT_TIMEOUT', 'ECONNRESET', 'EPIPE'].includes(error.code ?? '');
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
