/**
 * The `proxy` field: an explicit `http://[user:${env:PASSWORD}@]host:port`, or `"env"` for the
 * HTTPS_PROXY / NO_PROXY conventions curl, Go and Node follow. Only HTTP CONNECT over plain TCP
 * to the proxy is spoken; the tunnel's own TLS runs end to end inside it either way. A proxy
 * password is never written in settings, and no message here ever repeats one.
 */
import * as net from 'node:net';
import { Endpoint, ProxyConfig, isLoopbackHost } from './model';
import { VariableContext, substituteVariables } from './variables';

export type ProxyParse =
  | { ok: true; proxy?: ProxyConfig; bypass?: string }
  | { ok: false; message: string };

/** Read in this order, the first one set (and not empty) wins: curl's and Node's order. */
export const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'] as const;
export const NO_PROXY_VARIABLES = ['no_proxy', 'NO_PROXY'] as const;

const HTTP_PROXY_EXAMPLE = 'http://proxy.corp:3128';

/** `value` of a tunnel's `proxy` setting, for the tunnel reaching `target`. */
export function parseProxySetting(value: unknown, target: Endpoint | undefined, vars: VariableContext): ProxyParse {
  if (value === undefined) return { ok: true };
  if (typeof value !== 'string' || value.trim() === '') {
    return { ok: false, message: `must be "http://host:port" or "env", not ${typeof value === 'string' ? JSON.stringify(value) : describeValue(value)}` };
  }
  if (value === 'env') return target ? proxyFromEnvironment(target, vars.env ?? process.env) : { ok: true };
  if (value.trim().toLowerCase() === 'env') return { ok: false, message: `write "env" in lower case to use HTTPS_PROXY and NO_PROXY, not ${JSON.stringify(value)}` };
  const whole = /^\$\{env:([^}]+)\}$/.exec(value);
  if (whole) {
    // The whole URL from one variable, credentials and all, read like HTTPS_PROXY (NO_PROXY aside).
    const substituted = substituteVariables(value, vars);
    if (!substituted.ok) return { ok: false, message: substituted.message };
    const parsed = parseEnvironmentUrl(substituted.value.trim(), value);
    return parsed.ok ? parsed : { ok: false, message: `${value} is ${JSON.stringify(redactUrl(substituted.value.trim()))}: ${parsed.message}` };
  }
  return parseSettingsUrl(value, vars);
}

/**
 * The proxy HTTPS_PROXY (or ALL_PROXY) names for `target`, unless NO_PROXY exempts it or the
 * target is a loopback address, which the environment never sends through a proxy (as Go does).
 */
export function proxyFromEnvironment(target: Endpoint, env: NodeJS.ProcessEnv): ProxyParse {
  if (isLoopbackHost(target.host)) return { ok: true, bypass: `the target ${target.host} is a loopback address, which "env" never sends through a proxy` };
  const source = PROXY_VARIABLES.find((name) => (env[name] ?? '') !== '');
  if (!source) return { ok: true, bypass: 'neither HTTPS_PROXY nor ALL_PROXY is set' };
  const noProxyName = NO_PROXY_VARIABLES.find((name) => (env[name] ?? '') !== '');
  const entry = noProxyName ? noProxyMatch(env[noProxyName]!, target) : undefined;
  if (entry !== undefined) return { ok: true, bypass: `${noProxyName} entry "${entry}" matches ${target.host}` };
  const parsed = parseEnvironmentUrl(env[source]!.trim(), source);
  if (!parsed.ok) return { ok: false, message: `"env" reads ${source}=${JSON.stringify(redactUrl(env[source]!.trim()))}: ${parsed.message}` };
  return parsed;
}

/** The explicit setting: scheme required, port required, password only from `${env:…}`. */
function parseSettingsUrl(raw: string, vars: VariableContext): ProxyParse {
  const shown = JSON.stringify(redactUrl(raw));
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(raw);
  if (!scheme) {
    return { ok: false, message: raw.includes('://') ? `${shown} is not a proxy URL; write "${HTTP_PROXY_EXAMPLE}"` : `${shown} has no scheme; write "http://${redactUrl(raw)}" (only http:// proxies are supported)` };
  }
  const schemeProblem = unsupportedScheme(scheme[1]);
  if (schemeProblem) return { ok: false, message: schemeProblem };
  let rest = scheme[2];
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  const at = lastOutsideBraces(rest, '@');
  const userinfo = at >= 0 ? rest.slice(0, at) : undefined;
  const hostport = at >= 0 ? rest.slice(at + 1) : rest;
  if (/[/?#]/.test(stripReferences(hostport))) return { ok: false, message: `${shown} has a path, query or fragment; write just "http://host:port"` };

  let auth: ProxyConfig['auth'];
  let credentialsFrom: string | undefined;
  if (userinfo !== undefined) {
    const colon = firstOutsideBraces(userinfo, ':');
    const userTemplate = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    const passwordTemplate = colon >= 0 ? userinfo.slice(colon + 1) : '';
    if (userTemplate === '') return { ok: false, message: `${shown} has credentials without a user name; write "http://USER:\${env:PROXY_PASSWORD}@host:port"` };
    if (passwordTemplate !== '' && !/^\$\{env:[^}]+\}$/.test(passwordTemplate)) {
      return { ok: false, message: `the proxy password must be an environment reference, like "http://alice:\${env:PROXY_PASSWORD}@proxy.corp:3128"; a password is never written in settings` };
    }
    const username = substituteVariables(userTemplate, vars);
    if (!username.ok) return { ok: false, message: username.message };
    const password = passwordTemplate === '' ? { ok: true as const, value: '' } : substituteVariables(passwordTemplate, vars);
    if (!password.ok) return { ok: false, message: password.message };
    auth = { username: username.value, password: password.value };
    // Safe to show: a literal user name and `${env:…}` references, never the values behind them.
    credentialsFrom = userinfo;
  }

  const substituted = substituteVariables(hostport, vars);
  if (!substituted.ok) return { ok: false, message: substituted.message };
  const endpoint = parseHostPort(substituted.value, shown);
  if (typeof endpoint === 'string') return { ok: false, message: endpoint };
  return { ok: true, proxy: { ...endpoint, auth, url: proxyUrl(endpoint, auth !== undefined), source: 'settings', credentialsFrom } };
}

/** HTTPS_PROXY's value: a scheme-less `host:port` means http://, as curl and Go read it. */
function parseEnvironmentUrl(raw: string, source: string): ProxyParse {
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw);
  if (schemeMatch) {
    const problem = unsupportedScheme(schemeMatch[1]);
    if (problem) return { ok: false, message: problem };
  }
  let url: URL;
  try {
    url = new URL(schemeMatch ? raw : `http://${raw}`);
  } catch {
    return { ok: false, message: `not a proxy URL; it should look like "${HTTP_PROXY_EXAMPLE}"` };
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return { ok: false, message: 'has a path, query or fragment; a proxy is just "http://host:port"' };
  if (url.port === '') return { ok: false, message: `has no port; write it out, e.g. "${HTTP_PROXY_EXAMPLE}"` };
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const endpoint: Endpoint = { host, port: Number(url.port) };
  let auth: ProxyConfig['auth'];
  if (url.username !== '' || url.password !== '') {
    try {
      auth = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    } catch {
      return { ok: false, message: 'its user name or password is not valid percent-encoding' };
    }
  }
  return { ok: true, proxy: { ...endpoint, auth, url: proxyUrl(endpoint, auth !== undefined), source, credentialsFrom: auth ? source : undefined } };
}

function unsupportedScheme(scheme: string): string | undefined {
  const s = scheme.toLowerCase();
  if (s === 'http') return undefined;
  if (s === 'https') return 'https:// proxies (TLS to the proxy) are not supported; use the proxy\'s http:// port: the tunnel\'s own TLS runs end to end inside the CONNECT tunnel either way';
  if (s.startsWith('socks')) return `SOCKS proxies (${s}://) are not supported; only HTTP CONNECT proxies (http://host:port)`;
  return `unsupported scheme "${s}://"; only HTTP CONNECT proxies (http://host:port) are supported`;
}

function parseHostPort(text: string, shown: string): Endpoint | string {
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d*))?$/.exec(text) ?? /^([^:\s[\]/]+)(?::(\d*))?$/.exec(text);
  if (!m || text === '') return `${shown} is not "http://host:port" (IPv6 as "http://[::1]:3128")`;
  const host = m[1];
  if (text.startsWith('[') ? !net.isIPv6(host) : !net.isIP(host) && !/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(host)) {
    return `"${host}" is not a valid proxy host name`;
  }
  if (m[2] === undefined || m[2] === '') return `${shown} has no port; write it out, e.g. "${HTTP_PROXY_EXAMPLE}"`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `proxy port ${m[2]} is out of range (1-65535)`;
  return { host, port };
}

/** `http://host:port`, with `***@` where credentials are: the only way a proxy is ever shown. */
export function proxyUrl(endpoint: Endpoint, withCredentials: boolean): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `http://${withCredentials ? '***@' : ''}${host}:${endpoint.port}`;
}

/**
 * Any URL-ish text with everything before its last `@` (after the scheme) replaced by `***`, for
 * messages about what the user wrote. A password may hold `/` or `@` unencoded, so the last `@`
 * anywhere is taken: hiding a path's `@` too is the cheaper mistake.
 */
export function redactUrl(text: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(text)?.[0] ?? '';
  const rest = text.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  return at < 0 ? text : `${scheme}***@${rest.slice(at + 1)}`;
}

/**
 * The NO_PROXY entry that exempts `target`, or undefined. Entries are separated by commas or
 * spaces and compared without DNS, case-insensitively: `*` matches everything; `corp.example`,
 * `.corp.example` and `*.corp.example` match that domain and every name under it (curl's reading);
 * an IP matches that address and `10.0.0.0/8` a range (IP targets only); `host:port` and
 * `[v6]:port` match only that port.
 */
export function noProxyMatch(list: string, target: Endpoint): string | undefined {
  const host = target.host.toLowerCase().replace(/\.$/, '').replace(/^\[|\]$/g, '');
  const targetIp = net.isIP(host);
  for (const original of list.split(/[\s,]+/)) {
    const entry = original.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return original;
    let name = entry;
    let port: number | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    const withPort = /^([^:]+):(\d+)$/.exec(entry);
    if (bracketed) {
      name = bracketed[1];
      port = bracketed[2] !== undefined ? Number(bracketed[2]) : undefined;
    } else if (withPort) {
      name = withPort[1];
      port = Number(withPort[2]);
    }
    if (port !== undefined && port !== target.port) continue;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(name);
    if (cidr) {
      const family = net.isIP(cidr[1]);
      const prefix = Number(cidr[2]);
      if (family === 0 || targetIp === 0 || prefix > (family === 4 ? 32 : 128)) continue;
      const range = new net.BlockList();
      range.addSubnet(cidr[1], prefix, family === 4 ? 'ipv4' : 'ipv6');
      if (range.check(host, targetIp === 4 ? 'ipv4' : 'ipv6')) return original;
      continue;
    }
    const entryIp = net.isIP(name);
    if (entryIp !== 0) {
      if (targetIp === 0) continue;
      const one = new net.BlockList();
      one.addAddress(name, entryIp === 4 ? 'ipv4' : 'ipv6');
      if (one.check(host, targetIp === 4 ? 'ipv4' : 'ipv6')) return original;
      continue;
    }
    const domain = name.replace(/^\*?\./, '').replace(/\.$/, '');
    if (domain === '' || targetIp !== 0) continue;
    if (host === domain || host.endsWith(`.${domain}`)) return original;
  }
  return undefined;
}

/** Where `sep` first occurs outside `${…}` (whose `env:` holds a colon), or -1. */
function firstOutsideBraces(text: string, sep: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith('${', i)) depth++;
    else if (text[i] === '}' && depth > 0) depth--;
    else if (depth === 0 && text[i] === sep) return i;
  }
  return -1;
}

function lastOutsideBraces(text: string, sep: string): number {
  let found = -1;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith('${', i)) depth++;
    else if (text[i] === '}' && depth > 0) depth--;
    else if (depth === 0 && text[i] === sep) found = i;
  }
  return found;
}

function stripReferences(text: string): string {
  return text.replace(/\$\{[^}]*\}/g, 'x');
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
