/**
 * Validates raw `mtlsTunnels.tunnels` settings into `TunnelConfig`s. The JSON schema in
 * package.json gives editors completion; this is the check that counts, because settings also
 * come from files the CLI reads and from users who ignore squiggles.
 *
 * A little over 300 lines: every field's rule, in the order of the settings table, read best in
 * one place (the proxy setting and the target list have files of their own).
 */
import * as path from 'node:path';
import {
  ConfigError, ConfigErrorLocation, DEFAULTS, Endpoint, ListenAddress, PROTOCOLS, Protocol, RESUMPTION_POLICIES, TLS_VERSIONS, TlsVersion, TunnelConfig,
  defaultAlpn, isLoopbackHost,
} from './model';
import { parseEndpoint } from './endpoint';
import { parseProxySetting } from './proxy';
import { checkIdentityCommand, parseRenewBefore } from './renewal';
import { parseTargetPolicy, parseTargets } from './targets';
import { VariableContext, substituteVariables } from './variables';

export { parseEndpoint } from './endpoint';

export interface ParseResult {
  tunnels: TunnelConfig[];
  errors: ConfigError[];
}

const FIELDS = [
  'name', 'listen', 'unsafeListen', 'target', 'targetPolicy', 'protocol', 'cert', 'key', 'pfx', 'passphrase', 'ca', 'crl',
  'serverName', 'verify', 'alpn', 'minTlsVersion', 'connectTimeoutMs', 'idleTimeoutMs',
  'closeTimeoutMs', 'maxConnectionLifetimeMs', 'maxConnections', 'autoStart', 'proxy', 'user', 'database', 'allowOtherUsers',
  'identityCommand', 'renewBefore', 'resumption', 'warmConnections', 'warmMaxAgeMs',
] as const;
const VERIFY_FIELDS = ['subjectAltNames', 'spkiSha256'];
const SAN_PREFIXES = ['DNS:', 'IP:', 'URI:', 'email:'];

/** Parse every entry; a bad entry is reported and left out, the good ones still come back. */
export function parseTunnels(raw: unknown, vars: VariableContext = {}): ParseResult {
  const errors: ConfigError[] = [];
  if (raw === undefined || raw === null) return { tunnels: [], errors };
  if (!Array.isArray(raw)) {
    errors.push(new ConfigError('*', '', `mtlsTunnels.tunnels must be an array of tunnels, not ${describe(raw)}`));
    return { tunnels: [], errors };
  }
  const tunnels: TunnelConfig[] = [];
  const seen = new Map<string, number>();
  raw.forEach((entry, index) => {
    const before = errors.length;
    const tunnel = parseEntry(entry, index, vars, errors);
    if (tunnel) {
      const first = seen.get(tunnel.name);
      if (first !== undefined) {
        errors.push(new ConfigError(tunnel.name, 'name', `duplicate name: entries #${first + 1} and #${index + 1} are both called "${tunnel.name}"; names must be unique`, { index }));
        return;
      }
      seen.set(tunnel.name, index);
      if (errors.length === before) tunnels.push(tunnel);
    }
  });
  return { tunnels, errors };
}

function parseEntry(entry: unknown, index: number, vars: VariableContext, errors: ConfigError[]): TunnelConfig | undefined {
  const label = `#${index + 1}`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    errors.push(new ConfigError(label, '', `each tunnel must be an object, not ${describe(entry)}`, { index }));
    return undefined;
  }
  const o = entry as Record<string, unknown>;
  const nameOk = typeof o.name === 'string' && o.name.trim() !== '' && o.name === o.name.trim();
  const who = nameOk ? (o.name as string) : label;
  const err = (field: string, message: string, location: Partial<ConfigErrorLocation> = {}) =>
    errors.push(new ConfigError(who, field, message, { index, ...location }));
  /** A required field that is absent: the editor marks the entry, the path still names the field. */
  const missing = (field: string, message: string) => err(field, message, { missing: o[field] === undefined });
  if (!nameOk) {
    if (o.name === undefined) missing('name', 'is required');
    else err('name', `must be a non-empty string without surrounding spaces, not ${describe(o.name)}`);
  }
  for (const key of Object.keys(o)) {
    if ((FIELDS as readonly string[]).includes(key)) continue;
    const near = closest(key, FIELDS);
    err(key, `unknown field${near ? `; did you mean "${near}"?` : ''}`, { path: [key], target: 'key', ...(near && !(near in o) ? { fix: { kind: 'renameKey', to: near } } : {}) });
  }

  const str = (field: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      err(field, `must be a non-empty string, not ${describe(value)}`);
      return undefined;
    }
    const s = substituteVariables(value, vars);
    if (!s.ok) {
      err(field, s.message);
      return undefined;
    }
    return s.value;
  };
  const file = (field: string): string | undefined => {
    const p = str(field, o[field]);
    if (p === undefined) return undefined;
    if (path.isAbsolute(p)) return path.normalize(p);
    if (vars.workspaceFolder) return path.resolve(vars.workspaceFolder, p);
    err(field, `relative path "${p}" needs a workspace folder; use an absolute path or \${workspaceFolder}/…`);
    return undefined;
  };
  const bool = (field: string): boolean => {
    const v = o[field];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') err(field, `must be true or false, not ${describe(v)}`);
    return v === true;
  };
  const int = (field: string, min: number, max: number, fallback: number): number => {
    const v = o[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      err(field, `must be a whole number from ${min} to ${max}, not ${describe(v)}`);
      return fallback;
    }
    return v;
  };
  const oneOf = <T extends string>(field: string, options: readonly T[], fallback: T): T => {
    const v = o[field];
    if (v === undefined) return fallback;
    if ((options as readonly unknown[]).includes(v)) return v as T;
    const near = typeof v === 'string' ? closest(v, options) : undefined;
    err(field, `must be ${options.map((x) => `"${x}"`).join(', ').replace(/, ([^,]*)$/, ' or $1')}, not ${describe(v)}${near ? `; did you mean "${near}"?` : ''}`, near ? { fix: { kind: 'replaceValue', value: near } } : {});
    return fallback;
  };
  const strings = (field: string, value: unknown, check?: (s: string) => string | undefined): string[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      err(field, `must be an array of strings, not ${describe(value)}`);
      return [];
    }
    const out: string[] = [];
    value.forEach((v, i) => {
      const s = str(`${field}[${i}]`, v);
      if (s === undefined) return;
      const problem = check?.(s);
      if (problem) err(`${field}[${i}]`, problem);
      else out.push(s);
    });
    return out;
  };

  const unsafeListen = bool('unsafeListen');
  const listen = typeof o.listen === 'string' && o.listen.startsWith('unix:') ? parseSocketListen(o.listen, vars, err) : parseListen(o.listen, unsafeListen, err);
  const targetList = parseTargets(o.target, str, err, missing);
  const target: Endpoint | undefined = targetList[0];
  const targetPolicy = parseTargetPolicy(o.targetPolicy, err, describe, closest);

  // Per target: with "env", NO_PROXY may exempt one target's host and not another's.
  const proxies = (targetList.length > 0 ? targetList : [undefined]).map((t) => parseProxySetting(o.proxy, t, vars));
  const proxy = proxies[0];
  const proxyProblem = proxies.find((p): p is Extract<typeof p, { ok: false }> => !p.ok);
  if (proxyProblem) err('proxy', proxyProblem.message);

  let protocol: Protocol = DEFAULTS.protocol;
  if (o.protocol !== undefined) {
    if (typeof o.protocol === 'string' && (PROTOCOLS as readonly string[]).includes(o.protocol)) protocol = o.protocol as Protocol;
    else {
      const near = typeof o.protocol === 'string' ? closest(o.protocol, PROTOCOLS) : undefined;
      err('protocol', `unknown protocol ${describe(o.protocol)}; use one of ${PROTOCOLS.join(', ')}${near ? `; did you mean "${near}"?` : ''}`, near ? { fix: { kind: 'replaceValue', value: near } } : {});
    }
  }

  const cert = file('cert');
  const key = file('key');
  const pfx = file('pfx');
  if (o.pfx !== undefined && (o.cert !== undefined || o.key !== undefined)) {
    err('pfx', 'use either pfx or cert + key, not both');
  } else if (o.pfx === undefined) {
    // cert alone is a combined PEM (certificates and key in one file); whether the key is really
    // there is read when the tunnel starts, and said naming "cert".
    if (o.cert === undefined && o.key === undefined) missing('cert', 'a client identity is required: set cert and key (PEM), cert alone (one PEM file with the key), or pfx (PKCS#12)');
    else if (o.cert === undefined) missing('cert', 'key is set but cert is missing');
  }
  let passphrase: string | undefined;
  if (o.passphrase !== undefined) {
    if (typeof o.passphrase !== 'string' || !/^\$\{env:[^}]+\}$/.test(o.passphrase)) {
      err('passphrase', 'must be an environment reference like "${env:CLIENT_P12_PASSWORD}"; a passphrase is never written in settings');
    } else {
      passphrase = str('passphrase', o.passphrase);
    }
  }
  const ca = file('ca');
  let identityCommand: string | undefined;
  if (o.identityCommand !== undefined) {
    const problem = checkIdentityCommand(o.identityCommand);
    if (problem) err('identityCommand', problem);
    else if (o.pfx !== undefined) err('identityCommand', 'renews PEM files: use cert and key with it, not pfx (the command gets their paths as MTLS_CERT_FILE and MTLS_KEY_FILE)');
    else identityCommand = o.identityCommand as string;
  }
  const renewBefore = o.renewBefore === undefined ? undefined : parseRenewBefore(o.renewBefore);
  if (typeof renewBefore === 'string') err('renewBefore', renewBefore);

  const serverNameRaw = str('serverName', o.serverName);
  if (serverNameRaw !== undefined && !/^[A-Za-z0-9_.*:-]+$/.test(serverNameRaw)) err('serverName', `"${serverNameRaw}" is not a host name`);

  let verify = { subjectAltNames: [] as string[], spkiSha256: [] as string[] };
  if (o.verify !== undefined) {
    if (typeof o.verify !== 'object' || o.verify === null || Array.isArray(o.verify)) {
      err('verify', `must be an object with subjectAltNames and/or spkiSha256, not ${describe(o.verify)}`);
    } else {
      const v = o.verify as Record<string, unknown>;
      for (const k of Object.keys(v)) {
        if (VERIFY_FIELDS.includes(k)) continue;
        const near = closest(k, VERIFY_FIELDS);
        err(`verify.${k}`, `unknown field${near ? `; did you mean "${near}"?` : ''}`, { path: ['verify', k], target: 'key', ...(near && !(near in v) ? { fix: { kind: 'renameKey', to: near } } : {}) });
      }
      verify = {
        subjectAltNames: strings('verify.subjectAltNames', v.subjectAltNames, (s) =>
          SAN_PREFIXES.some((p) => s.startsWith(p) && s.length > p.length) ? undefined : `"${s}" must start with ${SAN_PREFIXES.join(', ')} (e.g. "DNS:db.internal", "URI:spiffe://corp/db")`),
        spkiSha256: strings('verify.spkiSha256', v.spkiSha256, (s) =>
          /^[A-Za-z0-9+/]{43}=$/.test(s) ? undefined : `"${s}" is not a base64 SHA-256 pin (44 characters ending in "="); get one with \`mtls-tunnels inspect server.crt\``),
      };
    }
  }
  const alpn = o.alpn === undefined ? defaultAlpn(protocol) : strings('alpn', o.alpn, (s) => (Buffer.byteLength(s) > 255 ? 'longer than 255 bytes' : undefined));

  let minTlsVersion: TlsVersion = DEFAULTS.minTlsVersion;
  if (o.minTlsVersion !== undefined) {
    if ((TLS_VERSIONS as readonly unknown[]).includes(o.minTlsVersion)) minTlsVersion = o.minTlsVersion as TlsVersion;
    else err('minTlsVersion', `must be ${TLS_VERSIONS.join(' or ')}, not ${describe(o.minTlsVersion)} (older versions are not allowed)`);
  }

  // A MySQL server speaks first and our TLS upgrade is built from the client's own capability
  // flags, so no MySQL connection can be made before its client arrives (and the server drops one
  // that has not logged in within connect_timeout, 10 s by default). PostgreSQL is fine: the
  // SSLRequest and the handshake carry nothing of the client; its StartupMessage comes after.
  const warmConnections = int('warmConnections', 0, 16, DEFAULTS.warmConnections);
  if (warmConnections > 0 && protocol === 'mysql') {
    err('warmConnections', 'cannot be used with protocol "mysql": the MySQL server speaks first and drops a connection that has not logged in within its connect_timeout (10 s by default), and the tunnel\'s TLS upgrade needs the client\'s own handshake; remove warmConnections');
  }

  const tunnel: TunnelConfig = {
    name: nameOk ? (o.name as string) : label,
    listen: listen ?? { host: DEFAULTS.listenHost, port: 0 },
    unsafeListen,
    allowOtherUsers: bool('allowOtherUsers'),
    target: target ?? { host: '', port: 0 },
    targets: targetList.map((t, i) => {
      const p = proxies[i];
      return { ...t, serverName: serverNameRaw ?? t.host, ...(p.ok && p.proxy ? { proxy: p.proxy } : {}), ...(p.ok && p.bypass ? { proxyBypass: p.bypass } : {}) };
    }),
    targetPolicy,
    protocol,
    cert, key, pfx, passphrase, ca,
    ...optional('crl', file('crl')),
    ...optional('identityCommand', identityCommand),
    ...(renewBefore && typeof renewBefore !== 'string' ? { renewBefore } : {}),
    serverName: serverNameRaw ?? target?.host ?? '',
    verify,
    alpn,
    minTlsVersion,
    connectTimeoutMs: int('connectTimeoutMs', 100, 600_000, DEFAULTS.connectTimeoutMs),
    resumption: oneOf('resumption', RESUMPTION_POLICIES, DEFAULTS.resumption),
    idleTimeoutMs: int('idleTimeoutMs', 0, 86_400_000, DEFAULTS.idleTimeoutMs),
    closeTimeoutMs: int('closeTimeoutMs', 0, 86_400_000, DEFAULTS.closeTimeoutMs),
    // A week at most: beyond 2^31 ms a Node timer fires at once.
    maxConnectionLifetimeMs: int('maxConnectionLifetimeMs', 0, 604_800_000, DEFAULTS.maxConnectionLifetimeMs),
    maxConnections: int('maxConnections', 0, 1_000_000, DEFAULTS.maxConnections),
    warmConnections,
    // At least a second: a shorter life would redial more than it serves.
    warmMaxAgeMs: int('warmMaxAgeMs', 1000, 60_000, DEFAULTS.warmMaxAgeMs),
    autoStart: bool('autoStart'),
    ...optional('user', str('user', o.user)),
    ...optional('database', str('database', o.database)),
    ...(proxy.ok && proxy.proxy ? { proxy: proxy.proxy } : {}),
    ...(proxy.ok && proxy.bypass ? { proxyBypass: proxy.bypass } : {}),
    folder: vars.workspaceFolder,
  };
  // A named entry with errors still comes back so duplicate names are caught; the caller drops it.
  return nameOk ? tunnel : undefined;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/**
 * `unix:/path/to/socket`, with `~` and variables as other paths. Windows has no owner-only unix
 * sockets this tunnel can vouch for, so there it is refused.
 */
function parseSocketListen(value: string, vars: VariableContext, err: (f: string, m: string, l?: Partial<ConfigErrorLocation>) => void): ListenAddress | undefined {
  if (process.platform === 'win32') {
    err('listen', 'unix-socket listeners ("unix:…") are not supported on Windows; listen on a loopback port like 15432');
    return undefined;
  }
  const s = substituteVariables(value.slice('unix:'.length), vars);
  if (!s.ok) {
    err('listen', s.message);
    return undefined;
  }
  if (s.value === '') {
    err('listen', '"unix:" needs a socket path, e.g. "unix:${userHome}/.mtls/db.sock" (for PostgreSQL "unix:DIR/.s.PGSQL.5432")');
    return undefined;
  }
  const p = path.isAbsolute(s.value) ? path.normalize(s.value) : vars.workspaceFolder ? path.resolve(vars.workspaceFolder, s.value) : undefined;
  if (p === undefined) {
    err('listen', `relative socket path "${s.value}" needs a workspace folder; use an absolute path or \${workspaceFolder}/…`);
    return undefined;
  }
  // sun_path holds 108 bytes on Linux, 104 on macOS, the terminating NUL included.
  if (Buffer.byteLength(p) > 103) {
    err('listen', `socket path "${p}" is ${Buffer.byteLength(p)} bytes long; unix sockets allow at most 103, so pick a shorter folder`);
    return undefined;
  }
  return { path: p };
}

function parseListen(value: unknown, unsafeListen: boolean, err: (f: string, m: string, l?: Partial<ConfigErrorLocation>) => void): Endpoint | undefined {
  if (value === undefined) {
    err('listen', 'is required: a local port like 15432 or "127.0.0.1:15432"', { missing: true });
    return undefined;
  }
  let endpoint: Endpoint;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 65535) {
      err('listen', `port ${value} is out of range (1-65535, or 0 for any free port)`);
      return undefined;
    }
    endpoint = { host: DEFAULTS.listenHost, port: value };
  } else if (typeof value === 'string') {
    const parsed = /^\d+$/.test(value) ? { host: DEFAULTS.listenHost, port: Number(value) } : parseEndpoint(value);
    if (typeof parsed === 'string') {
      err('listen', parsed);
      return undefined;
    }
    if (parsed.port > 65535) {
      err('listen', `port ${parsed.port} is out of range (1-65535, or 0 for any free port)`);
      return undefined;
    }
    endpoint = parsed;
  } else {
    err('listen', `must be a port number or "host:port", not ${describe(value)}`);
    return undefined;
  }
  if (!isLoopbackHost(endpoint.host) && !unsafeListen) {
    err('listen', `${endpoint.host} is not a loopback address: anyone who can reach it could use your client certificate; listen on 127.0.0.1, or set "unsafeListen": true if you really mean it`,
      { fix: { kind: 'replaceValue', value: `${DEFAULTS.listenHost}:${endpoint.port}` } });
    return undefined;
  }
  return endpoint;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/** The option a misspelt word most likely meant, if one is close enough. */
function closest(word: string, options: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const o of options) {
    const d = editDistance(lower, o.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = o;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}
