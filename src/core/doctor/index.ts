/**
 * The handshake doctor: dials a tunnel's target once the way the tunnel would (credentials, DNS,
 * TCP, protocol preamble, TLS, server verification), then probes once more without a client
 * certificate to learn whether the server enforces mTLS, then asks the application whether it
 * would let the user in (the one request it sends).
 *   check.ts        the order of steps and what each finding means
 *   probes.ts       the dials (as the tunnel, and without a client identity)
 *   firstRead.ts    the one read after the handshake
 *   login.ts        the login check in the application's protocol, after TLS works
 *   protocolProbe.ts what listens at the target, when the failure suggests the wrong protocol
 *   clientCas.ts    the client CAs a server names in its TLS 1.2 CertificateRequest
 *   plaintext.ts    quoting a target that answers TLS in plaintext
 *   recordingTap.ts what the target sent in the clear, recorded under TLS (plaintext, clientCas)
 *   certificates.ts the certificates seen, as the report shows them
 *   report.ts       the report as data; format.ts as text
 */
export { checkTunnel } from './check';
export { formatCheckReport, withProtection } from './format';
export type { LoginCheck } from './login';
export type { CertificateInfo, CheckOptions, CheckReport, CheckTimings, Verdict } from './report';
