/**
 * The handshake doctor's dictionary: any error met while reaching, negotiating with or talking to
 * the target becomes a Diagnosis that names the tunnel, says what is wrong in one sentence, and
 * says what to change. Raw codes (ECONNRESET, alert numbers) go to `detail`, for the log.
 */
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { commonNameOf as cn, oneLineName } from '../certs/names';
import { chainOf, subjectAltNames } from '../certs/peer';
import { isoDay as day, validityOf } from '../certs/validity';
import { TunnelConfig, formatEndpoint } from '../config/model';
import { issuerAndSubject } from '../certs/distinguishedNames';
import { FoundCertificate, certificatesIn, explainServerChain, missingClientIntermediate, presentedChain, serverCertificateWithoutServerAuth, trustedFor, wrongPurpose } from './chains';
import { Diagnosis, DiagnosisCode, PreambleAnswer, Severity } from './diagnosis';
import { isBareHangUp, isPlaintextAnswer, isServerRefusal } from './errorShapes';
import { diagnoseProxy } from './proxy';
import { diagnoseRevocation } from './revocation';

/** Where in a connection's life the error happened. */
export type Phase = 'connect' | 'proxy' | 'preamble' | 'handshake' | 'first-read' | 'established';

export interface DiagnosisContext {
  config: Pick<TunnelConfig, 'name' | 'target' | 'serverName' | 'ca' | 'cert' | 'pfx' | 'protocol' | 'alpn' | 'connectTimeoutMs' | 'verify' | 'minTlsVersion' | 'proxy' | 'crl'>;
  phase: Phase;
  /** The server's certificate as the handshake saw it, when it got that far. */
  peerCertificate?: tls.DetailedPeerCertificate;
  /** Our own leaf certificate, to tell "the server rejected us" apart from "we are expired". */
  clientCertificate?: X509Certificate;
  /** Our certificate file's chain as loaded (leaf first), to tell a missing intermediate apart from an untrusted CA. */
  clientChain?: X509Certificate[];
  /**
   * Whether the server refuses a handshake without a client certificate, when known (the
   * handshake doctor probes for it). It turns a bare reset into "the server refused yours": some
   * servers (Node's among them) drop a client certificate they dislike without sending an alert.
   */
  serverRequiresClientCert?: boolean;
  /**
   * The client CAs the server names in its TLS 1.2 CertificateRequest (DER and as text), and the
   * chain it sent in that handshake, when the doctor read them (doctor/clientCas.ts).
   */
  acceptedClientCas?: { der: Buffer[]; names: string[]; serverChain: X509Certificate[] };
  /** The first bytes a plaintext target sent back to our ClientHello, when recorded (the doctor does). */
  plaintextReply?: string;
  /** Set for a connection that broke after it was established: the sentence names it. */
  connectionId?: number;
}


export function diagnose(error: unknown, ctx: DiagnosisContext): Diagnosis {
  const err = (error ?? {}) as NodeJS.ErrnoException & { reason?: string; host?: string; answer?: PreambleAnswer; serverPin?: string };
  const code = err.code ?? '';
  const message = err.message ?? String(error);
  const c = ctx.config;
  const t = `Tunnel "${c.name}"`;
  const target = formatEndpoint(c.target);
  // Every sentence below ends with its period; the connection it broke, when known, goes before it.
  const on = ctx.connectionId === undefined ? '' : ` (connection #${ctx.connectionId})`;
  const make = (dcode: DiagnosisCode, summary: string, fix: string, severity: Severity = 'error'): Diagnosis => ({
    code: dcode, severity, summary: `${t}: ${on ? `${summary.replace(/\.$/, '')}${on}.` : summary}`, fix, detail: [code, message].filter(Boolean).join(': ') || undefined,
  });
  const ours = ctx.clientCertificate;
  const caFile = c.ca ? `the CA file ${c.ca}` : "Node's built-in public CAs (no \"ca\" is set)";
  const ourIssuer = ours ? ` ("${oneLineName(ours.issuer)}")` : '';
  const inspectOurs = `\`mtls-tunnels inspect ${c.cert ?? c.pfx}\``;
  const refusedOurs = (when: string) => make('CLIENT_CERT_REJECTED',
    `the server requires a client certificate and ${when} when it got yours, without saying why: it does not accept it, most likely because it does not trust the CA that issued it${ourIssuer}.`,
    `Use a client certificate issued by a CA the server trusts, or ask its operators to add your CA; check yours with ${inspectOurs}.`);

  // --- With a proxy, "connect" is the TCP connection to the proxy, and "proxy" its answer to CONNECT.
  if (c.proxy && (ctx.phase === 'connect' || ctx.phase === 'proxy')) {
    const found = diagnoseProxy(err, ctx.phase, c.proxy, c.target, c.connectTimeoutMs);
    if (found) return make(found.code, found.summary, found.fix);
  }

  // --- Local certificate problems that explain a rejection better than the alert does.
  if (ours && ctx.phase !== 'connect' && ctx.phase !== 'proxy' && ctx.phase !== 'preamble') {
    const { status } = validityOf(ours);
    if (status === 'expired' && isServerRefusal(err)) {
      return make('CLIENT_CERT_EXPIRED', `your client certificate expired on ${day(ours.validTo)}, so the server refused it.`, `Renew the certificate in ${c.cert ?? c.pfx} and restart the tunnel.`);
    }
    if (status === 'not yet valid' && isServerRefusal(err)) {
      return make('CLIENT_CERT_NOT_YET_VALID', `your client certificate is not valid until ${day(ours.validFrom)}, so the server refused it.`, "Check this machine's clock, or use a certificate that is valid now.");
    }
  }

  // --- A refusal our own certificate explains: the wrong purpose, or a file without our intermediate.
  const refusal = /ALERT/.test(code) || ((ctx.serverRequiresClientCert || ctx.phase === 'first-read') && isServerRefusal(err));
  if (ours && refusal && (ctx.phase === 'handshake' || ctx.phase === 'first-read')) {
    const eku = wrongPurpose(ours, 'clientAuth');
    if (eku) {
      return make('CLIENT_CERT_WRONG_PURPOSE', `the server refused your client certificate (CN=${cn(ours.subject)}), which is not meant for client authentication: its extended key usage is ${eku.join(', ')}, without clientAuth.`, `Use a certificate issued for client authentication (EKU clientAuth) in "${c.cert ? 'cert' : 'pfx'}"; check it with ${inspectOurs}.`);
    }
    const known: FoundCertificate[] = [
      ...(ctx.peerCertificate ? presentedChain(ctx.peerCertificate, []) : ctx.acceptedClientCas?.serverChain ?? []).map((cert) => ({ cert, where: "the server's own chain" })),
      ...certificatesIn(c.ca).map((cert) => ({ cert, where: `the CA file ${c.ca}` })),
    ];
    const gap = ctx.clientChain && missingClientIntermediate(ctx.clientChain, known);
    if (gap && (/UNKNOWN_CA|CERTIFICATE_REQUIRED|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN/.test(code) || !/ALERT/.test(code))) {
      return make('CLIENT_CHAIN_INCOMPLETE', `the server could not chain your client certificate (CN=${cn(ours.subject)}) to a CA it trusts: ${c.cert} holds only your certificate, not the intermediate CA "${gap.intermediate}" that issued it.`, `Append the certificate of "${gap.intermediate}" (it is in ${gap.foundIn}) to ${c.cert}, after yours.`);
    }
    const listed = ctx.acceptedClientCas;
    const issuers = ctx.clientChain?.length ? issuerNames(ctx.clientChain) : undefined;
    if (listed && listed.der.length > 0 && issuers && !listed.der.some((d) => issuers.some((i) => i.equals(d)))) {
      const top = ctx.clientChain![ctx.clientChain!.length - 1];
      const under = ctx.clientChain!.length > 1 ? ` under "${oneLineName(top.issuer)}"` : '';
      return make('CLIENT_CA_NOT_ACCEPTED', `the server accepts client certificates from ${listed.names.map((n) => `"${n}"`).join(', ')} only (it lists them in its CertificateRequest); yours (CN=${cn(ours.subject)}) was issued by "${oneLineName(ours.issuer)}"${under}, which is not among them.`, `Use a client certificate issued by one of those CAs, or ask the server's operators to accept "${oneLineName(top.issuer)}"${ctx.clientChain!.length === 1 ? ` (if "${oneLineName(ours.issuer)}" is an intermediate under one of them, append its certificate to ${c.cert})` : ''}.`);
    }
  }

  if (code === 'TARGET_SPEAKS_PLAINTEXT' || isPlaintextAnswer(err)) {
    if (code === 'TARGET_SPEAKS_PLAINTEXT' && ctx.phase === 'preamble') {
      // The protocol's own check (PostgreSQL's one-byte answer) says more than "plaintext".
      const a = err.answer;
      return make('TARGET_SPEAKS_PLAINTEXT', a ? `${target} answered ${a.request} with ${a.answer}: it does not look like ${a.expected}.` : `${target}: ${message}.`, `Check that "protocol" (${c.protocol}) matches the server and the port in "target".`);
    }
    return make('TARGET_SPEAKS_PLAINTEXT', `${target} answered in plaintext, not TLS${ctx.plaintextReply ? `: it said "${ctx.plaintextReply}"` : ''}.`, c.protocol === 'tls' ? 'Point "target" at the server\'s TLS port (Test Connection asks the port what it is, and names the "protocol" it needs).' : `Check that "protocol" (${c.protocol}) matches the server and the port in "target".`);
  }

  const revocation = diagnoseRevocation(code, c.crl, ctx.peerCertificate);
  if (revocation) return make(revocation.code, revocation.summary, revocation.fix);

  switch (code) {
    case 'INVALID_PURPOSE': {
      const chain = ctx.peerCertificate ? presentedChain(ctx.peerCertificate, []) : [];
      const bad = serverCertificateWithoutServerAuth(chain);
      return make('SERVER_CERT_WRONG_PURPOSE', `the server certificate${bad ? ` (CN=${bad.subject})` : ''} is not meant for a TLS server: its extended key usage is ${bad ? bad.eku.join(', ') : 'not serverAuth'}, without serverAuth.`, "The server's operators must install a certificate issued for server authentication (EKU serverAuth); this check cannot be switched off.");
    }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return make('DNS_FAILED', `the target host ${c.target.host} cannot be resolved${code === 'EAI_AGAIN' ? ' (DNS is not answering)' : ''}.`, `Check the host name in "target", your VPN, or your DNS settings.`);
    case 'ECONNREFUSED':
      return make('CONNECTION_REFUSED', `nothing is listening at ${target} (connection refused).`, `Check the port in "target", and that the server is running and reachable from here.`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return make('HOST_UNREACHABLE', `${target} is unreachable from this machine.`, 'Check your network or VPN connection and any firewall in between.');
    case 'ETIMEDOUT':
    case 'ERR_MTLS_CONNECT_TIMEOUT':
      return ctx.phase === 'connect'
        ? make('CONNECT_TIMEOUT', `no answer from ${target} within ${c.connectTimeoutMs} ms.`, 'Check the host and port in "target", your VPN, and firewalls; raise "connectTimeoutMs" only if the network is just slow.')
        : make('CONNECT_TIMEOUT', `${target} accepted the connection but did not finish the ${ctx.phase === 'preamble' ? c.protocol + ' negotiation' : 'TLS handshake'} within ${c.connectTimeoutMs} ms.`, ctx.phase === 'preamble' ? `Check that "protocol" (${c.protocol}) matches the server.` : 'The port may not speak TLS (check "protocol" and the port in "target"), or the server is overloaded.');
    case 'POSTGRES_SSL_REFUSED':
      return make('POSTGRES_SSL_REFUSED', 'the PostgreSQL server refused TLS (it answered N to the SSLRequest): it has ssl = off.', 'Enable ssl in postgresql.conf on the server, or check that "target" points at the right server.');
    case 'PROTOCOL_ERROR':
      return make('PROTOCOL_ERROR', `${message}.`, `Check that "protocol" (${c.protocol}) and the port in "target" match the server.`);
    case 'ERR_MTLS_CLOSED_AFTER_HANDSHAKE':
      // Servers that check the client certificate in application code (Node's tls server among
      // them) close without a TLS alert; a close before any reply right after the handshake is
      // the signature.
      if (ctx.serverRequiresClientCert) return refusedOurs('closed the connection right after the handshake');
      return make('CLIENT_CERT_REJECTED', `the server closed the connection right after the TLS handshake without answering: it most likely rejected your client certificate${ours ? ` (issued by "${oneLineName(ours.issuer)}")` : ''}.`, `Check that the server trusts the CA that issued it: \`mtls-tunnels inspect ${c.cert ?? c.pfx}\`, and ask the server's operators which client CA they accept.`);
    case 'ECONNRESET':
    case 'EPIPE':
      if (ctx.serverRequiresClientCert && (ctx.phase === 'handshake' || ctx.phase === 'first-read')) {
        return refusedOurs(ctx.phase === 'handshake' ? 'reset the connection during the handshake' : 'reset the connection right after the handshake');
      }
      if (ctx.phase === 'first-read') {
        return make('CLIENT_CERT_REJECTED', `the server reset the connection right after the handshake: it most likely rejected your client certificate${ourIssuer}.`, `Ask the server's operators which CA they trust for clients, and check your certificate with ${inspectOurs}.`);
      }
      if (ctx.phase === 'handshake') {
        return make('HANDSHAKE_FAILED', `${target} reset the connection during the TLS handshake.`, 'The server may require a different TLS version or a client certificate it trusts; run "Test Connection" for details.');
      }
      return make('PEER_RESET', `${target} reset the connection${ctx.phase === 'established' ? ' mid-stream' : ''}.`, 'The server or something in between dropped the connection; check the server logs.', ctx.phase === 'established' ? 'warning' : 'error');
    case 'ERR_MTLS_SAN_MISSING':
      return make('SERVER_SAN_MISSING', `the server certificate does not carry the SANs you require (${c.verify.subjectAltNames.join(', ')}).`, `It has: ${subjectAltNames(ctx.peerCertificate ?? {}).join(', ') || 'no SANs'}. Fix "verify.subjectAltNames", or ask for a server certificate that carries them.`);
    case 'ERR_MTLS_PIN_MISMATCH':
      return make('SERVER_PIN_MISMATCH', "the server's key does not match any pin in verify.spkiSha256: this is not the server you pinned, or its key was rotated.", `If the rotation is expected, update the pin; the server's key is now ${err.serverPin ?? 'unknown'}.`);
    case 'ERR_TLS_CERT_ALTNAME_INVALID': {
      const sans = subjectAltNames(ctx.peerCertificate ?? (err as unknown as { cert?: tls.PeerCertificate }).cert ?? {});
      return make('SERVER_NAME_MISMATCH', `the server certificate is not valid for "${c.serverName}"; it names ${sans.length ? sans.join(', ') : `only CN=${cn(ctx.peerCertificate?.subject) ?? '?'}`}.`, `Set "serverName" to one of those names, or fix the host in "target".`);
    }
    case 'CERT_HAS_EXPIRED': {
      const p = ctx.peerCertificate;
      return make('SERVER_CERT_EXPIRED', `the server certificate${p ? ` (CN=${cn(p.subject)})` : ''} expired${p ? ` on ${day(p.valid_to)}` : ''}.`, "The server's operators must renew it; there is no way to skip this check.");
    }
    case 'CERT_NOT_YET_VALID': {
      const p = ctx.peerCertificate;
      return make('SERVER_CERT_NOT_YET_VALID', `the server certificate${p ? ` (CN=${cn(p.subject)})` : ''} is not valid until ${p ? day(p.valid_from) : 'a later date'}.`, "Check this machine's clock; otherwise the server's certificate was issued with a future date.");
    }
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return make('SERVER_CERT_SELF_SIGNED', `the server presents a self-signed certificate (${ctx.peerCertificate ? `CN=${cn(ctx.peerCertificate.subject)}` : ''}) that ${caFile} does not contain.`, 'Put that certificate (or the CA that should have issued it) in the file "ca" points to.');
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_UNTRUSTED':
    case 'CERT_SIGNATURE_FAILURE': {
      const trusted = trustedFor(c.ca);
      const presented = ctx.peerCertificate ? presentedChain(ctx.peerCertificate, trusted) : [];
      const ownChain = (ctx.clientChain ?? []).map((cert) => ({ cert, where: `your certificate file ${c.cert}` }));
      const finding = explainServerChain(presented, trusted, c.ca, ownChain);
      if (finding?.kind === 'ca-file-holds-leaf') {
        return make('CA_FILE_NOT_CA', `the CA file ${c.ca} holds no CA certificate, only ${finding.leaves.map((l) => `"${l}"`).join(', ')}: a server's or client's own certificate cannot vouch for a server.`, `Point "ca" at the certificate of the CA at the top of the server's chain${presented.length ? ` ("${oneLineName(presented[presented.length - 1].issuer)}")` : ''}, not at a leaf certificate.`);
      }
      if (finding?.kind === 'missing-intermediate') {
        return make('SERVER_CHAIN_INCOMPLETE', `the server sends only its own certificate (CN=${finding.leaf}), without the intermediate CA "${finding.intermediate}" that issued it, so it cannot be chained to a root in ${caFile}.`, `The fix is on the server: its certificate file must hold its certificate followed by "${finding.intermediate}" (ask its operators); as a workaround, add that intermediate's certificate (it is in ${finding.foundIn}) to ${c.ca ?? 'a file and point "ca" at it, with its root'}.`);
      }
      if (finding?.kind === 'missing-root') {
        return make('SERVER_CERT_UNTRUSTED', `the server certificate (CN=${finding.leaf}) chains up through "${finding.via}" to the root "${finding.root}", which ${caFile} does not contain.`, c.ca ? `Add the certificate of "${finding.root}" to ${c.ca}, or point "ca" at the bundle your server operators publish.` : `Set "ca" to the PEM file of "${finding.root}".`);
      }
      const chain = ctx.peerCertificate ? chainOf(ctx.peerCertificate) : [];
      const top = chain[chain.length - 1];
      const issuer = top ? cn(top.issuer) ?? JSON.stringify(top.issuer) : undefined;
      return make('SERVER_CERT_UNTRUSTED', `the server certificate${chain[0] ? ` (CN=${cn(chain[0].subject)})` : ''} was issued by ${issuer ? `"${issuer}"` : 'a CA'}, which ${caFile} does not contain.`, c.ca ? `Add that CA's certificate to ${c.ca}, or point "ca" at the bundle your server operators publish (if "${issuer ?? 'it'}" is an intermediate CA, the server should be sending it too).` : 'Set "ca" to the PEM bundle of the CA that issued the server certificate.');
    }
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
    case 'ERR_SSL_SSLV3_ALERT_UNKNOWN_CA':
      return make('CLIENT_CERT_UNKNOWN_CA', `the server does not trust the CA that issued your client certificate${ours ? ` ("${oneLineName(ours.issuer)}")` : ''}.`, `Use a client certificate issued by a CA the server trusts, or ask its operators to add your CA.`);
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED':
      return make('CLIENT_CERT_EXPIRED', `the server says your client certificate has expired${ours ? ` (it expired on ${day(ours.validTo)})` : ''}.`, `Renew the certificate in ${c.cert ?? c.pfx}.`);
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED':
      return make('CLIENT_CERT_REVOKED', 'the server says your client certificate has been revoked.', 'Get a new client certificate from your CA.');
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return make('CLIENT_CERT_REQUIRED', 'the server requires a client certificate and did not get one it would accept.', `Check "cert"/"key" (or "pfx") and that the certificate is issued by a CA the server trusts.`);
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE':
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN':
    case 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED':
      return make('CLIENT_CERT_REJECTED', `the server rejected your client certificate (${(err.reason ?? message).replace(/^.*alert /, '')}).`, `Check that it is meant for client authentication (EKU clientAuth) and issued by a CA the server trusts: \`mtls-tunnels inspect ${c.cert ?? c.pfx}\`.`);
    case 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE':
      return ctx.phase === 'first-read' || /certificate/i.test(message)
        ? make('CLIENT_CERT_REQUIRED', 'the server ended the handshake: it requires a client certificate it can accept.', 'Check "cert"/"key" (or "pfx") and that the certificate is issued by a CA the server trusts.')
        : make('HANDSHAKE_FAILED', 'the server and this tunnel could not agree on TLS parameters (handshake failure), or the server wants a client certificate it did not get.', 'Run "Test Connection" for the details of what was offered.');
    case 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL':
    case 'ERR_SSL_NO_APPLICATION_PROTOCOL':
      return make('ALPN_REFUSED', `the server accepts none of the ALPN protocols offered (${c.alpn.join(', ') || 'none'}).`, c.protocol === 'postgres-direct' ? 'The server is not PostgreSQL 17+ with direct TLS: use "protocol": "postgres".' : 'Set "alpn" to the protocol the server expects (e.g. "h2" for gRPC, "postgresql" for PostgreSQL direct TLS).');
    case 'ERR_SSL_UNSUPPORTED_PROTOCOL':
    case 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION':
    case 'ERR_SSL_NO_PROTOCOLS_AVAILABLE':
      return make('TLS_VERSION_MISMATCH', `the server does not support TLS ${c.minTlsVersion.slice(4)} or newer.`, 'Ask the server operators to enable TLS 1.2 or newer; older versions are not allowed.');
    case 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC':
    case 'ERR_SSL_BAD_RECORD_MAC':
      return make('PEER_RESET', 'the TLS stream was corrupted in transit.', 'Something between you and the server is altering traffic.');
  }
  if (/^ERR_SSL_/.test(code) && /alert/i.test(message)) {
    return make('HANDSHAKE_FAILED', `the server ended the TLS session with "${(err.reason ?? message).replace(/^.*alert /, '')}".`, 'Run "Test Connection" for the handshake details.');
  }
  // Resets and broken pipes were answered above; what is left is a hang-up without a code.
  if (isBareHangUp(err)) {
    if (ctx.serverRequiresClientCert && (ctx.phase === 'handshake' || ctx.phase === 'first-read')) {
      return refusedOurs(ctx.phase === 'handshake' ? 'hung up during the handshake' : 'hung up right after the handshake');
    }
    return ctx.phase === 'first-read'
      ? make('CLIENT_CERT_REJECTED', `the server hung up right after the handshake: it most likely rejected your client certificate${ourIssuer}.`, `Check which CA the server trusts for clients: ${inspectOurs}.`)
      : make('HANDSHAKE_FAILED', `${target} closed the connection during the TLS handshake.`, 'The server may not speak TLS on this port, or it requires a client certificate or TLS version it did not get; run "Test Connection".');
  }
  return make('UNKNOWN', `${ctx.phase === 'established' ? 'the connection failed' : `the ${ctx.phase === 'connect' ? 'connection' : ctx.phase === 'proxy' ? 'CONNECT through the proxy' : ctx.phase === 'preamble' ? c.protocol + ' negotiation' : 'TLS handshake'} failed`}: ${message}.`, 'Run "Test Connection" for details and check the tunnel log.');
}

/** The DER Names of every issuer in our chain: a server's list of client CAs is compared with these. */
function issuerNames(chain: X509Certificate[]): Buffer[] {
  return chain.flatMap((cert) => {
    const names = issuerAndSubject(cert);
    return names ? [names.issuer] : [];
  });
}
