/** One `host:port` as settings write it: the target, a TCP listen address, `--metrics`. */
import * as net from 'node:net';
import { Endpoint } from './model';

/** `host:port` or `[v6]:port`; returns a message when it is neither. */
export function parseEndpoint(text: string): Endpoint | string {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s[\]]+):(\d{1,5})$/.exec(text);
  if (!m) {
    if (/^[0-9A-Fa-f:]+$/.test(text) && text.includes('::')) return `"${text}" is an IPv6 address without a port; write "[${text}]:PORT"`;
    return `"${text}" is not "host:port" (IPv6 as "[::1]:5432")`;
  }
  const port = Number(m[2]);
  if (port > 65535) return `port ${port} is out of range (1-65535)`;
  const host = m[1];
  if (text.startsWith('[') && net.isIPv6(host) === false) return `"${host}" is not an IPv6 address`;
  if (!text.startsWith('[') && !net.isIP(host) && !/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(host)) return `"${host}" is not a valid host name`;
  return { host, port };
}
