/** The tunnel model: what a validated `mtlsTunnels.tunnels` entry means. */

export const PROTOCOLS = ['tls', 'postgres', 'postgres-direct', 'mysql'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** How a list of targets is used: the first that works, in order, or each new connection the next. */
export const TARGET_POLICIES = ['failover', 'round-robin'] as const;
export type TargetPolicy = (typeof TARGET_POLICIES)[number];
/** How upstream TLS sessions are resumed (tunnel/sessionPool.ts says what each does and costs). */
export const RESUMPTION_POLICIES = ['once', 'reuse', 'off'] as const;
export type Resumption = (typeof RESUMPTION_POLICIES)[number];

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

/**
 * One of a tunnel's targets, with what is particular to it: the name its certificate must carry
 * (`serverName` when set, else this target's own host) and, for `"proxy": "env"`, whether the
 * environment sends it through a proxy (NO_PROXY is per host).
 */
export interface TargetEndpoint extends Endpoint {
  serverName: string;
  proxy?: ProxyConfig;
  proxyBypass?: string;
}

export interface TunnelConfig {
  name: string;
  listen: ListenAddress;
  unsafeListen: boolean;
  /** Linux: let other local users' processes use a loopback listener (refused by default). */
  allowOtherUsers: boolean;
  /** The first target (with `serverName`, `proxy` and `proxyBypass` below: what reaching it takes). */
  target: Endpoint;
  /** Every target in the order given; one entry for a single `"target": "host:port"`. */
  targets: TargetEndpoint[];
  targetPolicy: TargetPolicy;
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
  /** SNI and the name the first target's certificate must carry (each target has its own in `targets`). */
  serverName: string;
  verify: { subjectAltNames: string[]; spkiSha256: string[] };
  alpn: string[];
  minTlsVersion: TlsVersion;
  connectTimeoutMs: number;
  /** `once`: each session ticket resumes one connection; `reuse`: the newest resumes every connection until another comes; `off`: a full handshake every time. */
  resumption: Resumption;
  idleTimeoutMs: number;
  /** After one side half-closes, how long the other may stay open before both are closed (0: no bound). */
  closeTimeoutMs: number;
  /** Close a connection this long after it was accepted (0: no limit). */
  maxConnectionLifetimeMs: number;
  maxConnections: number;
  /**
   * Upstream connections kept dialled and handshaken before any client asks (0: none), each for
   * at most `warmMaxAgeMs`; see tunnel/warmPool.ts. Refused for MySQL.
   */
  warmConnections: number;
  warmMaxAgeMs: number;
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
  /**
   * Set by whoever supplied the settings, never parsed from them: why this tunnel must not start
   * (nor a running one take these settings) yet. The editor sets it on workspace settings that
   * widen who may connect until the user confirms them (src/vscode/workspaceGrants.ts).
   */
  hold?: TunnelHold;
}

/** Why a tunnel waits for its user: the field at stake, one sentence, and what to do. */
export interface TunnelHold {
  field: string;
  summary: string;
  fix: string;
}

/**
 * The settings as one target sees them: its address, its server name, its proxy. A tunnel with
 * one target is its own config (so nothing changes for it).
 */
export function forTarget<C extends Pick<TunnelConfig, 'target' | 'targets' | 'serverName' | 'proxy' | 'proxyBypass'>>(config: C, index: number): C {
  if (config.targets.length <= 1) return config;
  const t = config.targets[index];
  const target: Endpoint = { host: t.host, port: t.port };
  return { ...config, target, serverName: t.serverName, proxy: t.proxy, proxyBypass: t.proxyBypass };
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
  targetPolicy: 'failover' as TargetPolicy,
  listenHost: '127.0.0.1',
  minTlsVersion: 'TLSv1.2' as TlsVersion,
  connectTimeoutMs: 10_000,
  resumption: 'once' as Resumption,
  idleTimeoutMs: 0,
  /** As ghostunnel's --close-timeout. */
  closeTimeoutMs: 60_000,
  maxConnectionLifetimeMs: 0,
  maxConnections: 0,
  warmConnections: 0,
  /** Well inside the idle limits servers put on a connection that has not sent a request yet (nginx's and PostgreSQL's are 60 s). */
  warmMaxAgeMs: 10_000,
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
