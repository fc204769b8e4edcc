/**
 * What a runtime diagnosis points at in the settings, and how its words read in the editor. The
 * core's sentences serve the CLI too, where `mtls-tunnels inspect …` is the right advice; in the
 * editor that advice is the Inspect Certificates command (a button), and code spans are quotes.
 */
import { ConfigError, TunnelConfig } from '../core/config/model';
import { Diagnosis, DiagnosisCode } from '../core/diagnostics/diagnosis';

const FILE_FIELD = /\bthe (cert|key|pfx|ca|crl) file\b/;

/** The settings field a diagnosis is about (so the Problems entry and Edit "…" land on it). */
export function fieldOfDiagnosis(d: Pick<Diagnosis, 'code' | 'summary'>, config?: Pick<TunnelConfig, 'pfx' | 'proxy' | 'hold'>): string {
  const identity = config?.pfx ? 'pfx' : 'cert';
  switch (d.code) {
    case 'NEEDS_CONSENT':
      return config?.hold?.field ?? (/"unsafeListen"/.test(d.summary) ? 'unsafeListen' : 'allowOtherUsers');
    case 'FILE_MISSING':
    case 'FILE_UNREADABLE':
    case 'PEM_MALFORMED':
      return FILE_FIELD.exec(d.summary)?.[1] ?? identity;
    case 'KEY_CERT_MISMATCH':
      return config?.pfx ? 'pfx' : 'key';
    case 'WRONG_PASSPHRASE':
    case 'PASSPHRASE_REQUIRED':
      return config?.pfx ? 'pfx' : 'key';
    case 'IDENTITY_COMMAND_FAILED':
    case 'IDENTITY_COMMAND_TIMEOUT':
    case 'IDENTITY_COMMAND_OUTPUT_UNUSABLE':
      return 'identityCommand';
    case 'PORT_IN_USE':
    case 'LISTEN_DENIED':
    case 'LISTEN_ADDRESS_UNAVAILABLE':
      return 'listen';
    case 'TARGET_SPEAKS_PLAINTEXT':
    case 'POSTGRES_SSL_REFUSED':
    case 'PROTOCOL_ERROR':
      return 'protocol';
    case 'WRONG_PROTOCOL':
      return 'protocol';
    case 'SERVER_CERT_UNTRUSTED':
    case 'SERVER_CERT_SELF_SIGNED':
    case 'SERVER_CHAIN_INCOMPLETE':
    case 'CA_FILE_NOT_CA':
      return 'ca';
    case 'SERVER_CERT_REVOKED':
    case 'CRL_UNUSABLE':
      return 'crl';
    case 'LOGIN_REFUSED':
    case 'LOGIN_PASSWORD_REQUIRED':
      return 'user';
    case 'LOGIN_DATABASE_MISSING':
      return 'database';
    case 'SERVER_NAME_MISMATCH':
      return 'serverName';
    case 'SERVER_SAN_MISSING':
      return 'verify.subjectAltNames';
    case 'SERVER_PIN_MISMATCH':
      return 'verify.spkiSha256';
    case 'CLIENT_CERT_REQUIRED':
    case 'CLIENT_CERT_UNKNOWN_CA':
    case 'CLIENT_CERT_EXPIRED':
    case 'CLIENT_CERT_NOT_YET_VALID':
    case 'CLIENT_CERT_REVOKED':
    case 'CLIENT_CERT_REJECTED':
    case 'CLIENT_CERT_NOT_REQUESTED':
    case 'CLIENT_CERT_EXPIRES_SOON':
    case 'CLIENT_CHAIN_INCOMPLETE':
    case 'CLIENT_CERT_WRONG_PURPOSE':
    case 'CLIENT_CA_NOT_ACCEPTED':
      return identity;
    case 'ALPN_REFUSED':
      return 'alpn';
    case 'TLS_VERSION_MISMATCH':
      return 'minTlsVersion';
    default:
      return d.code.startsWith('PROXY_') && config?.proxy ? 'proxy' : 'target';
  }
}

const CERTIFICATE_CODES = new Set<DiagnosisCode>([
  'SERVER_CERT_UNTRUSTED', 'SERVER_CERT_SELF_SIGNED', 'SERVER_NAME_MISMATCH', 'SERVER_CERT_EXPIRED', 'SERVER_CERT_NOT_YET_VALID',
  'SERVER_SAN_MISSING', 'SERVER_PIN_MISMATCH', 'CLIENT_CERT_REQUIRED', 'CLIENT_CERT_UNKNOWN_CA', 'CLIENT_CERT_EXPIRED',
  'CLIENT_CERT_NOT_YET_VALID', 'CLIENT_CERT_REVOKED', 'CLIENT_CERT_REJECTED', 'CLIENT_CERT_EXPIRES_SOON', 'PEM_MALFORMED', 'KEY_CERT_MISMATCH',
  'SERVER_CHAIN_INCOMPLETE', 'CA_FILE_NOT_CA', 'SERVER_CERT_WRONG_PURPOSE', 'SERVER_CERT_REVOKED', 'CLIENT_CHAIN_INCOMPLETE',
  'CLIENT_CERT_WRONG_PURPOSE', 'CLIENT_CA_NOT_ACCEPTED',
]);

/** Problems a look at the certificates explains: those notifications offer Inspect Certificates. */
export function isCertificateProblem(code: DiagnosisCode): boolean {
  return CERTIFICATE_CODES.has(code);
}

/** Failures of the local files, which the tunnel re-reads by itself: worth a word when they happen in the background. */
/**
 * A warning that means a change did not take: settings whose credentials do not load, whose
 * new "listen" cannot be bound, or that wait for the user's permission (workspace grants) leave
 * the tunnel running as it was. It holds until fixed.
 */
export function isChangeNotTaken(d: Diagnosis): boolean {
  return d.severity === 'warning' && (isCredentialProblem(d.code) || d.code === 'PORT_IN_USE' || d.code === 'LISTEN_DENIED' || d.code === 'LISTEN_ADDRESS_UNAVAILABLE' || d.code === 'NEEDS_CONSENT');
}

export function isCredentialProblem(code: DiagnosisCode): boolean {
  return ['FILE_MISSING', 'FILE_UNREADABLE', 'PEM_MALFORMED', 'KEY_CERT_MISMATCH', 'WRONG_PASSPHRASE', 'PASSPHRASE_REQUIRED', 'IDENTITY_COMMAND_FAILED', 'IDENTITY_COMMAND_TIMEOUT', 'IDENTITY_COMMAND_OUTPUT_UNUSABLE'].includes(code);
}

/** The core's sentence as the editor says it: the CLI's inspect advice names the command, no code spans. */
export function editorText(text: string): string {
  return text
    .replace(/`mtls-tunnels inspect [^`]*`/g, 'Inspect Certificates')
    .replace(/`mtls-tunnels check[^`]*`/g, 'Test Connection')
    .replace(/`([^`]*)`/g, '"$1"');
}

export function who(tunnel: string): string {
  return tunnel === '*' ? 'mtlsTunnels.tunnels' : tunnel.startsWith('#') ? `Tunnel ${tunnel}` : `Tunnel "${tunnel}"`;
}

/** The parser's words, with the tunnel, and the field's name where the range alone would not say it. */
export function configMessage(e: ConfigError): string {
  const last = e.location.path[e.location.path.length - 1];
  const message = e.location.target === 'key' && typeof last === 'string' ? e.message.replace(/^unknown field/, `unknown field "${last}"`)
    : e.field && /^is /.test(e.message) ? `"${e.field}" ${e.message}` : e.message;
  return editorText(`${who(e.tunnel)}: ${message}`);
}


/** The problem with its field named, for where no range shows the field (a notification). */
export function fieldMessage(e: ConfigError): string {
  const last = e.location.path[e.location.path.length - 1];
  if (e.location.target === 'key' && typeof last === 'string') return editorText(e.message.replace(/^unknown field/, `unknown field "${last}"`));
  if (!e.field) return editorText(e.message);
  return editorText(/^is /.test(e.message) ? `"${e.field}" ${e.message}` : `"${e.field}": ${e.message}`);
}
