/** What the handshake doctor found, as plain data: the CLI prints it, the editor shows it, tests read it. */
import { ValidityStatus } from '../certs/validity';
import { TunnelConfig } from '../config/model';
import { Diagnosis } from '../diagnostics/diagnosis';
import { HandshakeInfo } from '../tunnel/upstream';
import type { LoginCheck } from './login';

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
  /** Read as everywhere else (certs/validity.ts): what the editor colours a certificate by. */
  status: ValidityStatus;
  /** `DNS:x`, `IP:1.2.3.4`, `URI:…`: the syntax of `verify.subjectAltNames`. */
  subjectAltNames: string[];
}

export interface CheckReport {
  tunnel: string;
  /** `host:port` as configured; with several targets, all of them, comma-separated. */
  target: string;
  /** With several targets: how the tunnel uses them. */
  targetPolicy?: TunnelConfig['targetPolicy'];
  /** With several targets: each one's own check, in the order configured (the fields above stay empty then). */
  targets?: CheckReport[];
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
  /** Where the server enforces it: in the TLS handshake, or (PostgreSQL's pg_hba) at login. */
  clientCertificateCheckedAt?: 'handshake' | 'login';
  /** PostgreSQL's answer to the same login without a certificate, when that is what showed it is required. */
  loginWithoutCertificate?: string;
  /** The client CAs the server names in its TLS 1.2 CertificateRequest, when it refused our certificate and said. */
  acceptedClientCas?: string[];
  /** Why that list could not be read (a TLS 1.3-only server sends it encrypted). */
  acceptedClientCasUnavailable?: string;
  /** What the application answered the doctor's login check; absent for plain TCP or when TLS failed. */
  login?: LoginCheck;
  diagnoses: Diagnosis[];
}

export interface CheckOptions {
  /** Passphrase for `key` or `pfx`; never logged. Defaults to the tunnel's `passphrase` (from the environment). */
  passphrase?: string;
  /** How long to wait after the handshake for a rejection (TLS 1.3 servers send it then); default 300 ms. */
  firstReadMs?: number;
  /**
   * Run the tunnel's identityCommand when its certificate is missing, expired or inside its
   * renewal window, as a starting tunnel does (default false: readiness probes must not mint
   * certificates; `check` and Test Connection in a trusted workspace say true).
   */
  runIdentityCommand?: boolean;
}

export function verdictOf(diagnoses: Diagnosis[]): Verdict {
  if (diagnoses.some((d) => d.severity === 'error')) return 'failed';
  return diagnoses.some((d) => d.severity === 'warning') ? 'warning' : 'ok';
}
