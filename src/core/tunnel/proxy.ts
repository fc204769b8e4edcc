/**
 * The HTTP CONNECT hop: on a TCP connection to the proxy, ask for a tunnel to the target and read
 * the proxy's answer. After a 2xx the socket is a byte pipe to the target, and the protocol
 * preamble and the TLS handshake run over it exactly as over a direct connection; SNI and server
 * verification still use the tunnel's server name, never the proxy's.
 */
import * as net from 'node:net';
import { Endpoint, ProxyConfig, formatEndpoint } from '../config/model';
import type { ProxyReply } from '../diagnostics/proxy';
import { readUntil } from '../net/socketReader';

/** The most the proxy's answer may hold before its blank line; more is not an HTTP proxy talking. */
export const MAX_PROXY_HEADER_BYTES = 16 * 1024;

export type ProxyErrorCode = 'ERR_MTLS_PROXY_STATUS' | 'ERR_MTLS_PROXY_CLOSED' | 'ERR_MTLS_PROXY_NOT_HTTP';

/** A CONNECT that did not give a tunnel. Its message names the proxy by its redacted URL only. */
export class ProxyError extends Error {
  constructor(readonly code: ProxyErrorCode, message: string, readonly reply?: ProxyReply) {
    super(message);
  }
}

/** Where the TCP connection goes: the proxy when there is one, else the target. */
export function firstHop(config: { target: Endpoint; proxy?: ProxyConfig }): Endpoint {
  return config.proxy ? { host: config.proxy.host, port: config.proxy.port } : config.target;
}

/** `CONNECT host:port HTTP/1.1` with Host and, when the proxy has credentials, Basic auth. */
export function connectRequest(proxy: ProxyConfig, target: Endpoint): string {
  const authority = formatEndpoint(target);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`, 'User-Agent: mtls-tunnels'];
  if (proxy.auth) {
    lines.push(`Proxy-Authorization: Basic ${Buffer.from(`${proxy.auth.username}:${proxy.auth.password}`, 'utf8').toString('base64')}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Sends the CONNECT on `socket` (connected to the proxy) and resolves once the proxy answered 2xx.
 * The answer may arrive in any number of pieces; bytes after its blank line already belong to the
 * target (a server that speaks first) and are put back on the socket for the next reader (the
 * socket reader does both). The caller's deadline bounds the wait; this only bounds the size.
 */
export async function proxyConnect(socket: net.Socket, proxy: ProxyConfig, target: Endpoint): Promise<void> {
  socket.write(connectRequest(proxy, target));
  const reply = await readUntil(socket, (received) => {
    let offset = 0;
    for (;;) {
      const rest = received.subarray(offset);
      const expected = Math.min(rest.length, 5);
      if (rest.subarray(0, expected).toString('latin1') !== 'HTTP/'.slice(0, expected)) throw notHttp(proxy, rest);
      const end = headerEnd(rest);
      if (!end || end.next > MAX_PROXY_HEADER_BYTES) {
        if (rest.length > MAX_PROXY_HEADER_BYTES) {
          throw new ProxyError('ERR_MTLS_PROXY_NOT_HTTP', `the proxy ${proxy.url} sent more than ${MAX_PROXY_HEADER_BYTES / 1024} KiB without ending the headers of its answer`);
        }
        return undefined;
      }
      const parsed = parseReply(rest.subarray(0, end.start).toString('latin1'));
      if (!parsed) throw notHttp(proxy, rest);
      offset += end.next;
      // An interim 1xx answer comes before the real one.
      if (parsed.status >= 100 && parsed.status <= 199) continue;
      return { value: parsed, consumed: offset };
    }
  }, {
    onEnd: (received) => {
      throw new ProxyError('ERR_MTLS_PROXY_CLOSED', received.length === 0
        ? `the proxy ${proxy.url} closed the connection without answering the CONNECT to ${formatEndpoint(target)}`
        : `the proxy ${proxy.url} closed the connection in the middle of its answer to the CONNECT`);
    },
  });
  if (reply.status < 200 || reply.status > 299) {
    throw new ProxyError('ERR_MTLS_PROXY_STATUS', `the proxy ${proxy.url} answered the CONNECT to ${formatEndpoint(target)} with "${reply.statusLine}"`, reply);
  }
}

/** Where the blank line ending the headers starts, and where what follows it starts. */
function headerEnd(b: Buffer): { start: number; next: number } | undefined {
  // Some proxies end lines with a bare LF, or mix the two: an empty line is LF, optional CR, LF.
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) {
    const after = b[i + 1] === 13 ? i + 2 : i + 1;
    if (b[after] === 10) return { start: b[i - 1] === 13 ? i - 1 : i, next: after + 1 };
  }
  return undefined;
}

function parseReply(head: string): ProxyReply | undefined {
  const lines = head.split(/\r?\n/);
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})(?:[ \t](.*))?$/.exec(lines[0]);
  if (!m) return undefined;
  const authenticate = lines.slice(1)
    .map((l) => /^proxy-authenticate:[ \t]*(.*)$/i.exec(l)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(printable);
  return { status: Number(m[1]), statusLine: printable(lines[0]), authenticate };
}

function notHttp(proxy: ProxyConfig, received: Buffer): ProxyError {
  const first = received[0];
  const what = first === 0x15 || first === 0x16
    ? 'answered in TLS: the port speaks https://, which is not supported; use its http:// port'
    : first === 0x05 || first === 0x04 || first === 0x00
      ? 'answered like a SOCKS proxy, which is not supported; use an HTTP CONNECT proxy'
      : `answered something that is not HTTP: "${printable(received.subarray(0, 40).toString('latin1').split(/\r?\n/)[0])}"`;
  return new ProxyError('ERR_MTLS_PROXY_NOT_HTTP', `the proxy ${proxy.url} ${what}`);
}

function printable(text: string): string {
  const t = text.replace(/[^\x20-\x7e]/g, '?').trim();
  return t.length > 120 ? `${t.slice(0, 120)}…` : t;
}
