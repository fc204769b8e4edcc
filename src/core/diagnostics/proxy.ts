/**
 * Failures on the way through the tunnel's HTTP CONNECT proxy, in plain words: the proxy cannot
 * be reached, wants credentials or refuses ours, forbids the target, cannot reach it itself, hangs
 * up, or is not an HTTP proxy at all. The proxy is only ever named by its redacted URL.
 */
import { Endpoint, ProxyConfig, formatEndpoint } from '../config/model';
import { DiagnosisCode } from './diagnosis';

/** What a proxy said instead of a 2xx: read by the tunnel's CONNECT, explained here. */
export interface ProxyReply {
  status: number;
  /** The status line, printable ASCII only, at most 120 characters. */
  statusLine: string;
  /** `Proxy-Authenticate` challenges (`Basic realm="corp"`, `Negotiate`), in order. */
  authenticate: string[];
}

export interface ProxyFinding {
  code: DiagnosisCode;
  summary: string;
  fix: string;
}

/**
 * The finding for an error met while connecting to the proxy (`phase` "connect") or waiting for
 * its answer to the CONNECT (`phase` "proxy"); undefined when the error says nothing about it.
 */
export function diagnoseProxy(
  error: NodeJS.ErrnoException & { reply?: ProxyReply },
  phase: 'connect' | 'proxy',
  proxy: ProxyConfig,
  target: Endpoint,
  connectTimeoutMs: number,
): ProxyFinding | undefined {
  const code = error.code ?? '';
  const url = proxy.url;
  const to = formatEndpoint(target);
  const where = proxy.source === 'settings' ? '"proxy"' : proxy.source.startsWith('${') ? `"proxy" (${proxy.source})` : `${proxy.source} (read because "proxy" is "env")`;
  const finding = (c: DiagnosisCode, summary: string, fix: string): ProxyFinding => ({ code: c, summary, fix });

  if (phase === 'connect') {
    switch (code) {
      case 'ECONNREFUSED':
        return finding('PROXY_UNREACHABLE', `nothing is listening at the proxy ${url} (connection refused).`, `Check the proxy's host and port in ${where}, and that the proxy is running.`);
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return finding('PROXY_UNREACHABLE', `the proxy host ${proxy.host} cannot be resolved${code === 'EAI_AGAIN' ? ' (DNS is not answering)' : ''}.`, `Check the proxy's host name in ${where}, your VPN, or your DNS settings.`);
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return finding('PROXY_UNREACHABLE', `the proxy ${url} is unreachable from this machine.`, `Check your network or VPN connection, and the proxy in ${where}.`);
      case 'ETIMEDOUT':
      case 'ERR_MTLS_CONNECT_TIMEOUT':
        return finding('PROXY_UNREACHABLE', `no answer from the proxy ${url} within ${connectTimeoutMs} ms.`, `Check the proxy's host and port in ${where}, your VPN, and firewalls.`);
      default:
        return undefined;
    }
  }

  switch (code) {
    case 'ERR_MTLS_PROXY_STATUS':
      return statusFinding(error.reply, proxy, to, where);
    case 'ERR_MTLS_PROXY_CLOSED':
      return finding('PROXY_NO_REPLY', `the proxy ${url} closed the connection without answering the CONNECT to ${to}.`, `Check that ${where} points at an HTTP proxy's port; the proxy's own log says why it hung up.`);
    case 'ECONNRESET':
    case 'EPIPE':
      return finding('PROXY_NO_REPLY', `the proxy ${url} reset the connection without answering the CONNECT to ${to}.`, `Check that ${where} points at an HTTP proxy's port; the proxy's own log says why it hung up.`);
    case 'ETIMEDOUT':
    case 'ERR_MTLS_CONNECT_TIMEOUT':
      return finding('PROXY_NO_REPLY', `the proxy ${url} accepted the connection but did not answer the CONNECT to ${to} within ${connectTimeoutMs} ms.`, `Check that ${where} points at an HTTP proxy (not another kind of server); raise "connectTimeoutMs" only if the proxy is just slow to reach the target.`);
    case 'ERR_MTLS_PROXY_NOT_HTTP':
      return finding('PROXY_NOT_HTTP', `${error.message}.`, `Point ${where} at the proxy's plain HTTP port (often 3128 or 8080).`);
    default:
      return undefined;
  }
}

function statusFinding(reply: ProxyReply | undefined, proxy: ProxyConfig, to: string, where: string): ProxyFinding {
  const url = proxy.url;
  const said = reply ? `it answered "${reply.statusLine}"` : 'it answered with an error';
  const status = reply?.status ?? 0;
  const schemes = (reply?.authenticate ?? []).map((c) => c.split(/[\s,]/)[0]).filter(Boolean);
  const basicOffered = schemes.length === 0 || schemes.some((s) => s.toLowerCase() === 'basic');
  const otherSchemes = [...new Set(schemes.filter((s) => s.toLowerCase() !== 'basic'))].join(', ');

  if (status === 407 && !proxy.auth) {
    return {
      code: 'PROXY_AUTH_REQUIRED',
      summary: `the proxy ${url} requires authentication (${said}).`,
      fix: basicOffered
        ? `Give it a user name and a password from the environment: "proxy": "http://USER:\${env:PROXY_PASSWORD}@${url.replace(/^http:\/\//, '')}"${proxy.source === 'settings' ? '' : `, or put them in ${proxy.source}`}.`
        : `It wants ${otherSchemes} authentication, which mtls-tunnels does not speak (only Basic): run a local proxy that authenticates for you (such as cntlm or px) and point "proxy" at it.`,
    };
  }
  if ((status === 407 || status === 401) && proxy.auth) {
    return {
      code: 'PROXY_AUTH_FAILED',
      summary: `the proxy ${url} refused the credentials from ${proxy.credentialsFrom ?? 'the proxy URL'} (${said}).`,
      fix: basicOffered
        ? `Check the user name and password behind ${proxy.credentialsFrom ?? 'the proxy URL'}; the password itself is never shown here.`
        : `It wants ${otherSchemes} authentication, which mtls-tunnels does not speak (only Basic): run a local proxy that authenticates for you (such as cntlm or px) and point "proxy" at it.`,
    };
  }
  if (status === 403) {
    return {
      code: 'PROXY_DENIED',
      summary: `the proxy ${url} does not allow a tunnel to ${to} (${said}).`,
      fix: `Ask the proxy's administrators to allow CONNECT to ${to}${to.endsWith(':443') ? '' : ' (many proxies allow only port 443)'}; if the target is reachable without the proxy, remove "proxy" or add the host to NO_PROXY.`,
    };
  }
  if (status >= 500 && status <= 599) {
    return {
      code: 'PROXY_TARGET_UNREACHABLE',
      summary: `the proxy ${url} could not reach ${to} (${said}).`,
      fix: 'Check the host and port in "target" as the proxy sees them (the proxy resolves the name itself), and that the server is running.',
    };
  }
  return {
    code: 'PROXY_REJECTED',
    summary: `the proxy ${url} refused the CONNECT to ${to}: ${said}.`,
    fix: `Check that ${where} points at an HTTP proxy that allows CONNECT; a web server that is not a proxy answers like this too.`,
  };
}
