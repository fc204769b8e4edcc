/**
 * What every sidecar export shares: the result shape, the header every file starts with, names
 * safe to use as identifiers, and the differences all three tools have in common.
 */
import * as net from 'node:net';
import { TunnelConfig, formatEndpoint, formatListen } from '../config/model';

export interface ExportResult {
  text: string;
  /** A suggested file name, derived from the tunnel name. */
  fileName: string;
  /** What the exported file cannot carry or does differently, one sentence each. */
  notes: string[];
}

/** A tunnel that cannot be written in the format at all (e.g. a line break inside a path). */
export class ExportError extends Error {}

/** Where Debian and Ubuntu keep the system CA bundle, for tools that need a trust file. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The tunnel name reduced to letters, digits, `_`, `.` and `-`, for file and section names. */
export function slug(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return s === '' ? 'tunnel' : s;
}

/** Text safe inside a one-line comment: control characters and Unicode line breaks become `?`. */
export function commentSafe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, '?');
}

export interface San {
  type: 'DNS' | 'IP' | 'URI' | 'email';
  value: string;
}

/** `DNS:x`, `IP:x`, `URI:x`, `email:x` as validated by the config parser. */
export function parseSan(text: string): San {
  const i = text.indexOf(':');
  return { type: text.slice(0, i) as San['type'], value: text.slice(i + 1) };
}

export function isIp(host: string): boolean {
  return net.isIP(host) !== 0;
}

/**
 * Config files have no way to quote a line break; a path or name holding one would inject lines.
 * The settings parser accepts almost any string, so this is checked here, once, for every format.
 */
export function checkSingleLine(config: TunnelConfig): void {
  const fields: [string, string | undefined][] = [
    ['cert', config.cert], ['key', config.key], ['pfx', config.pfx], ['ca', config.ca], ['crl', config.crl], ['serverName', config.serverName],
    ...config.verify.subjectAltNames.map((s, i): [string, string] => [`verify.subjectAltNames[${i}]`, s]),
    ...config.alpn.map((s, i): [string, string] => [`alpn[${i}]`, s]),
    ['proxy', config.proxy?.credentialsFrom],
  ];
  for (const [field, value] of fields) {
    if (value !== undefined && /[\r\n\u0085\u2028\u2029]/.test(value)) {
      throw new ExportError(`tunnel "${commentSafe(config.name)}": ${field} contains a line break, which the exported file cannot hold`);
    }
  }
}

/** Differences every format shares; each format adds its own. */
/** How each sidecar picks up a renewed certificate, since none of them runs identityCommand. */
const PICKS_UP_RENEWAL = {
  ghostunnel: 'add --timed-reload 5m (or send it SIGHUP) so ghostunnel reads the new files',
  stunnel: 'send stunnel SIGHUP after each renewal so it reads the new files',
  envoy: 'Envoy reads these files only when it starts unless they come through SDS with a watched_directory: restart it after each renewal, or serve them by SDS',
} as const;

export function commonNotes(config: TunnelConfig, format?: keyof typeof PICKS_UP_RENEWAL): string[] {
  const notes: string[] = [];
  if (config.identityCommand && format) {
    // A note only: the command line is the team's, and where it may run (cron, a timer, a sidecar of its own) is theirs to choose.
    notes.push(`renewal: mtls-tunnels renews the client certificate by running identityCommand (${config.identityCommand}); ${format} runs no command, so run the same command on a schedule (a cron job or a systemd timer, more often than the renewal window is long) with MTLS_TUNNEL_NAME=${config.name} MTLS_CERT_FILE=${config.cert ?? ''} MTLS_KEY_FILE=${config.key ?? ''}, writing those files (a command that prints the PEM must be redirected into them), and ${PICKS_UP_RENEWAL[format]}`);
  }
  if (config.warmConnections > 0 && format) {
    notes.push(`warmConnections ${config.warmConnections}: not exported; mtls-tunnels keeps that many upstream connections handshaken before clients come, ${format} dials when a client connects`);
  }
  if (config.listen.port === 0) notes.push('listen port 0 means "any free port" in mtls-tunnels; give the sidecar a fixed port');
  if (config.autoStart) notes.push('autoStart is an editor setting; start the sidecar with your process manager instead');
  if (config.proxy && config.proxy.source !== 'settings') {
    notes.push(`proxy: read from ${config.proxy.source} when this file was exported; the sidecar uses that proxy as a fixed setting and does not consult NO_PROXY`);
  }
  if (config.proxyBypass) notes.push(`proxy "env" meant a direct connection when this file was exported (${config.proxyBypass}), so none is configured`);
  return notes;
}

/**
 * How each format can carry the proxy's credentials without holding the password: the names of
 * the environment variables behind them, when the settings took them from `${env:…}`.
 */
export function proxyCredentialVariables(config: TunnelConfig): { user?: string; userLiteral?: string; password?: string; wholeUrl?: string } | undefined {
  const p = config.proxy;
  if (!p?.auth || !p.credentialsFrom) return undefined;
  const whole = /^\$\{env:([^}]+)\}$/.exec(p.source)?.[1] ?? (p.source !== 'settings' ? p.source : undefined);
  if (whole) return { wholeUrl: whole };
  const colon = p.credentialsFrom.search(/:(?![^{]*\})/);
  const userPart = colon >= 0 ? p.credentialsFrom.slice(0, colon) : p.credentialsFrom;
  const passwordPart = colon >= 0 ? p.credentialsFrom.slice(colon + 1) : '';
  const variable = (t: string) => /^\$\{env:([^}]+)\}$/.exec(t)?.[1];
  return {
    user: variable(userPart),
    userLiteral: variable(userPart) ? undefined : userPart,
    password: variable(passwordPart),
  };
}

/**
 * The opening comment of every exported file: which tunnel, that mtls-tunnels generated it, the
 * route, and the notes. `mark` is the format's comment marker (`#` or `;`).
 */
export function header(mark: string, config: TunnelConfig, format: string, what: string, notes: string[]): string[] {
  const name = commentSafe(JSON.stringify(config.name));
  const lines = [
    `mTLS tunnel ${name} as ${what}.`,
    `Generated by mtls-tunnels: \`mtls-tunnels export ${name} --format ${format}\`. Change the tunnel`,
    'settings and export again rather than editing this file.',
    `Route: plain TCP on ${formatListen(config.listen)} -> TLS with a client certificate -> ${config.targets.length > 1 ? `${config.targets.map(formatEndpoint).join(', ')} (${config.targetPolicy})` : formatEndpoint(config.target)}`,
    `(protocol ${config.protocol}, server name ${commentSafe(config.serverName)}).`,
  ];
  if (notes.length > 0) {
    lines.push('', 'Differences from the tunnel as mtls-tunnels runs it:');
    for (const note of notes) lines.push(...wrap(`- ${commentSafe(note)}`, 96, '  '));
  }
  return lines.map((l) => (l === '' ? mark : `${mark} ${l}`));
}

function wrap(text: string, width: number, indent: string): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = indent + word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  out.push(line);
  return out;
}

/** Milliseconds as whole seconds, rounded up (the tools count in seconds). */
export function ceilSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
