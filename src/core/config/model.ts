/** The tunnel model: what a validated `mtlsTunnels.tunnels` entry means. */

export const PROTOCOLS = ['tls', 'postgres', 'postgres-direct', 'mysql'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

export interface Endpoint {
  host: string;
  port: number;
}

/** A unix-socket listener (`"listen": "unix:/path"`): an absolute path after variable substitution. */
export interface SocketPath {
  path: string;
  /** Absent, so code that reads a TCP listener's host or port sees undefined rather than a wrong value. */
  host?: undefined;
  port?: undefined;
}

/** Where a tunnel listens: a TCP address, or a unix socket. */
export type ListenAddress = Endpoint | SocketPath;

export function isSocketPath(a: ListenAddress | undefined): a is SocketPath {
  return a !== undefined && 'path' in a;
}

/** `host:port`, or `unix:/path` for a socket: how a listen address is shown everywhere. */
export function formatListen(a: ListenAddress): string {
  return formatEndpoint(a);
}

/** An HTTP proxy the target is reached through, with CONNECT over plain TCP to the proxy. */
export interface ProxyConfig {
  host: string;
  port: number;
  /** Sent as `Proxy-Authorization: Basic`; from the environment only, never logged or exported. */
  auth?: { username: string; password: string };
  /** `http://host:port`, `***@` where credentials are: the only form in which a proxy is shown. */
  url: string;
  /** `settings`, or the variable it was read from (`HTTPS_PROXY`, `${env:CORP_PROXY}`, …). */
  source: string;
  /** Where the credentials come from, safe to show: `alice:${env:PROXY_PASSWORD}` or `HTTPS_PROXY`. */
  credentialsFrom?: string;
}

export interface TunnelConfig {
  name: string;
  listen: ListenAddress;
  unsafeListen: boolean;
  /** Linux: let other local users' processes use a loopback listener (refused by default). */
  allowOtherUsers: boolean;
  target: Endpoint;
  protocol: Protocol;
  /** Absolute paths after variable substitution. */
  cert?: string;
  key?: string;
  pfx?: string;
  /** Passphrase for `key` or `pfx`, only ever from the environment or SecretStorage, never settings. */
  passphrase?: string;
  ca?: string;
  /** PEM CRL(s) the server's chain is checked against on every handshake (absolute path). */
  crl?: string;
  /** A shell command line that renews the client identity (see tls/identityCommand.ts); as written, no substitution. */
  identityCommand?: string;
  /** When the renewal window opens; absent: a third of the certificate's lifetime before its end. */
  renewBefore?: RenewBefore;
  /** SNI and the name the server certificate must carry. */
  serverName: string;
  verify: { subjectAltNames: string[]; spkiSha256: string[] };
  alpn: string[];
  minTlsVersion: TlsVersion;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** After one side half-closes, how long the other may stay open before both are closed (0: no bound). */
  closeTimeoutMs: number;
  /** Close a connection this long after it was accepted (0: no limit). */
  maxConnectionLifetimeMs: number;
  maxConnections: number;
  autoStart: boolean;
  /** The HTTP CONNECT proxy to the target; absent: a direct connection. */
  proxy?: ProxyConfig;
  /** Why `"proxy": "env"` resolved to a direct connection (NO_PROXY, a loopback target, no HTTPS_PROXY). */
  proxyBypass?: string;
  /** Login user for client commands, Open Terminal and `exec` (default: the client certificate's CN); never sent by the tunnel. */
  user?: string;
  /** Database for client commands, Open Terminal and `exec`; never sent by the tunnel. */
  database?: string;
  /** Workspace folder (or config file folder) the entry came from, for `${workspaceFolder}` and display. */
  folder?: string;
}

/** `renewBefore`: a fixed time before the certificate's end, or a share of its lifetime. */
export type RenewBefore = { ms: number; text: string } | { fraction: number; text: string };

/** A change that fixes a config problem, as data: rename the key, or replace the value. */
export type ConfigFix =
  | { kind: 'renameKey'; to: string }
  | { kind: 'replaceValue'; value: string | number | boolean };

/** Where in the entry, and what the editor should mark: the field's value, or its key (unknown field). */
export interface ConfigErrorLocation {
  /** 0-based position of the entry in `mtlsTunnels.tunnels`; absent for the setting as a whole. */
  index?: number;
  /** Keys and indexes inside the entry, e.g. `['verify', 'spkiSha256', 1]`; empty: the entry itself. */
  path: (string | number)[];
  /** `key` for an unknown field (the key is the mistake), `value` otherwise. */
  target: 'key' | 'value';
  /** A field that is required and missing: the editor marks the entry, the path names the field. */
  missing?: boolean;
  fix?: ConfigFix;
}

/** One problem with one field of one tunnel. */
export class ConfigError {
  readonly location: ConfigErrorLocation;

  constructor(
    /** The tunnel's name, or `#N` (1-based) when it has none. */
    readonly tunnel: string,
    /** Dotted field path, e.g. `verify.spkiSha256[1]`; empty for the entry as a whole. */
    readonly field: string,
    readonly message: string,
    location: Partial<ConfigErrorLocation> = {},
  ) {
    this.location = { ...location, path: location.path ?? fieldPath(field), target: location.target ?? 'value' };
  }

  toString(): string {
    const who = this.tunnel.startsWith('#') ? `tunnel ${this.tunnel}` : `tunnel "${this.tunnel}"`;
    return this.field ? `${who}: ${this.field}: ${this.message}` : `${who}: ${this.message}`;
  }
}

/** `verify.spkiSha256[1]` → `['verify', 'spkiSha256', 1]`. */
export function fieldPath(field: string): (string | number)[] {
  if (!field) return [];
  const out: (string | number)[] = [];
  for (const part of field.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const i of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(i[1]));
  }
  return out;
}

export const DEFAULTS = {
  protocol: 'tls' as Protocol,
  listenHost: '127.0.0.1',
  minTlsVersion: 'TLSv1.2' as TlsVersion,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  /** As ghostunnel's --close-timeout. */
  closeTimeoutMs: 60_000,
  maxConnectionLifetimeMs: 0,
  maxConnections: 0,
};

/** `host:port` with IPv6 hosts in brackets; a unix-socket listener as `unix:/path`. */
export function formatEndpoint(e: Endpoint | SocketPath): string {
  if (isSocketPath(e)) return `unix:${e.path}`;
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/** ALPN each protocol offers when the tunnel does not say. */
export function defaultAlpn(protocol: Protocol): string[] {
  return protocol === 'postgres-direct' ? ['postgresql'] : [];
}
