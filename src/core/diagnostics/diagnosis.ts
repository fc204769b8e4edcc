/** A failure (or a warning) explained: a typed code, one plain sentence, and what to change. */

export type DiagnosisCode =
  // reaching the target
  | 'DNS_FAILED'
  | 'CONNECTION_REFUSED'
  | 'CONNECT_TIMEOUT'
  | 'HOST_UNREACHABLE'
  | 'PEER_RESET'
  | 'TARGET_SPEAKS_PLAINTEXT'
  | 'POSTGRES_SSL_REFUSED'
  | 'PROTOCOL_ERROR'
  | 'WRONG_PROTOCOL'
  | 'PLAINTEXT_PORT'
  | 'ALL_TARGETS_FAILED'
  // the HTTP CONNECT proxy on the way to the target
  | 'PROXY_UNREACHABLE'
  | 'PROXY_AUTH_REQUIRED'
  | 'PROXY_AUTH_FAILED'
  | 'PROXY_DENIED'
  | 'PROXY_TARGET_UNREACHABLE'
  | 'PROXY_REJECTED'
  | 'PROXY_NO_REPLY'
  | 'PROXY_NOT_HTTP'
  // the server's identity
  | 'SERVER_CERT_UNTRUSTED'
  | 'SERVER_CERT_SELF_SIGNED'
  | 'SERVER_NAME_MISMATCH'
  | 'SERVER_CERT_EXPIRED'
  | 'SERVER_CERT_NOT_YET_VALID'
  | 'SERVER_SAN_MISSING'
  | 'SERVER_PIN_MISMATCH'
  | 'SERVER_CHAIN_INCOMPLETE'
  | 'SERVER_CERT_WRONG_PURPOSE'
  | 'CA_FILE_NOT_CA'
  | 'SERVER_CERT_REVOKED'
  | 'CRL_UNUSABLE'
  // our identity, as the server sees it
  | 'CLIENT_CERT_REQUIRED'
  | 'CLIENT_CERT_UNKNOWN_CA'
  | 'CLIENT_CERT_EXPIRED'
  | 'CLIENT_CERT_NOT_YET_VALID'
  | 'CLIENT_CERT_REVOKED'
  | 'CLIENT_CERT_REJECTED'
  | 'CLIENT_CERT_NOT_REQUESTED'
  | 'CLIENT_CERT_EXPIRES_SOON'
  | 'CLIENT_CHAIN_INCOMPLETE'
  | 'CLIENT_CA_NOT_ACCEPTED'
  | 'CLIENT_CERT_WRONG_PURPOSE'
  // the login, once TLS works
  | 'LOGIN_REFUSED'
  | 'LOGIN_DATABASE_MISSING'
  | 'LOGIN_PASSWORD_REQUIRED'
  | 'LOGIN_NO_ANSWER'
  // TLS parameters
  | 'ALPN_REFUSED'
  | 'TLS_VERSION_MISMATCH'
  | 'HANDSHAKE_FAILED'
  // local credentials and listener
  | 'FILE_MISSING'
  | 'FILE_UNREADABLE'
  | 'PEM_MALFORMED'
  | 'KEY_CERT_MISMATCH'
  | 'WRONG_PASSPHRASE'
  | 'PASSPHRASE_REQUIRED'
  // the command that renews the client identity
  | 'IDENTITY_COMMAND_FAILED'
  | 'IDENTITY_COMMAND_TIMEOUT'
  | 'IDENTITY_COMMAND_OUTPUT_UNUSABLE'
  | 'PORT_IN_USE'
  | 'LISTEN_DENIED'
  | 'LISTEN_ADDRESS_UNAVAILABLE'
  // settings that wait for the user's consent (TunnelConfig.hold)
  | 'NEEDS_CONSENT'
  | 'UNKNOWN';

export type Severity = 'error' | 'warning' | 'info';

export interface Diagnosis {
  code: DiagnosisCode;
  severity: Severity;
  /** One plain sentence: what is wrong. */
  summary: string;
  /** What to change. */
  fix: string;
  /** The underlying error text or code, for the log; never key material. */
  detail?: string;
}

/** What a server sent in place of the protocol's expected answer (PostgreSQL's byte after SSLRequest). */
export interface PreambleAnswer {
  /** What we sent: `SSLRequest`. */
  request: string;
  /** What came back: `byte 0x48`. */
  answer: string;
  /** What would have answered right: `PostgreSQL`. */
  expected: string;
}

export function formatDiagnosis(d: Diagnosis): string {
  return `${d.summary} ${d.fix}${d.detail ? ` (${d.detail})` : ''}`;
}
