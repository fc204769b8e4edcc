/**
 * `up --metrics HOST:PORT`: a small HTTP server beside the tunnels, for Prometheus and for
 * whatever supervises the process (Kubernetes probes, a load balancer, systemd's watchdog script).
 *
 *   GET /metrics          Prometheus text (metric names in src/core/metrics/tunnelMetrics.ts)
 *   GET /healthz          200 `ok`, or 503 with one line per reason
 *   GET /readyz           the same as /healthz
 *   GET /readyz?check=1   also the doctor's handshake to every target (cached a few seconds)
 *
 * Like a tunnel's listener it is loopback only unless `--unsafe-metrics`: the answers name every
 * tunnel, its target and its traffic. Nothing else is served; no client byte, key or passphrase
 * is ever in an answer.
 */
import * as http from 'node:http';
import { Endpoint, TunnelConfig, formatEndpoint, isLoopbackHost } from '../core/config/model';
import { parseEndpoint } from '../core/config/parse';
import { checkTunnel } from '../core/doctor';
import { TunnelManager } from '../core/manager';
import { HealthAnswer, ReadinessCheck, TargetCheck, tunnelHealth } from '../core/metrics/health';
import { CONTENT_TYPE } from '../core/metrics/promText';
import { TunnelMetrics } from '../core/metrics/tunnelMetrics';

/** How long a readiness check's answer is reused: probes every second or two must not dial every target each time. */
export const READINESS_CACHE_MS = 5000;

/** `--metrics HOST:PORT` as an endpoint, or the sentence saying why it is refused. */
export function metricsEndpoint(value: string, unsafe: boolean): Endpoint | string {
  const endpoint = parseEndpoint(value);
  if (typeof endpoint === 'string') return `--metrics ${endpoint}`;
  if (!isLoopbackHost(endpoint.host) && !unsafe) {
    return `--metrics ${value}: ${endpoint.host} is not a loopback address, and the metrics name every tunnel, its target and its traffic to anyone who can reach them; use 127.0.0.1:${endpoint.port}, or add --unsafe-metrics if you really mean it`;
  }
  return endpoint;
}

/** The doctor as readiness asks it: did the handshake work, and if not, its first error. */
export async function doctorCheck(config: TunnelConfig): Promise<TargetCheck> {
  const report = await checkTunnel(config);
  if (report.verdict !== 'failed') return { ok: true };
  return { ok: false, reason: report.diagnoses.find((d) => d.severity === 'error')?.summary };
}

export interface MetricsServer {
  address: Endpoint;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  /** The doctor's check (tests may pass another real one); default `checkTunnel`. */
  check?: (config: TunnelConfig) => Promise<TargetCheck>;
  readinessCacheMs?: number;
}

/** Listens on `endpoint`; rejects with the system's error (a taken port) before anything is served. */
export async function startMetricsServer(manager: TunnelManager, names: readonly string[], endpoint: Endpoint, options: MetricsServerOptions = {}): Promise<MetricsServer> {
  const metrics = new TunnelMetrics(manager, names);
  const readiness = new ReadinessCheck(manager, names, options.check ?? doctorCheck, options.readinessCacheMs ?? READINESS_CACHE_MS);
  const server = http.createServer((req, res) => {
    void answer(req, res).catch((e: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`internal error: ${e.message}\n`);
    });
  });
  const answer = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://metrics');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('only GET and HEAD\n');
      return;
    }
    switch (url.pathname) {
      case '/metrics':
        send(req, res, 200, CONTENT_TYPE, metrics.exposition());
        return;
      case '/healthz':
        sendHealth(req, res, tunnelHealth(manager, names));
        return;
      case '/readyz': {
        const health = tunnelHealth(manager, names);
        if (!wantsCheck(url)) return sendHealth(req, res, health);
        const ready = await readiness.answer();
        return sendHealth(req, res, { ok: health.ok && ready.ok, reasons: [...health.reasons, ...ready.reasons] });
      }
      default:
        send(req, res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz?check=1\n');
    }
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: endpoint.host, port: endpoint.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  const address = a && typeof a === 'object' ? { host: a.address, port: a.port } : endpoint;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        metrics.dispose();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function wantsCheck(url: URL): boolean {
  const v = url.searchParams.get('check');
  return v !== null && v !== '0' && v !== 'false';
}

function sendHealth(req: http.IncomingMessage, res: http.ServerResponse, health: HealthAnswer): void {
  send(req, res, health.ok ? 200 : 503, 'text/plain; charset=utf-8', health.ok ? 'ok\n' : health.reasons.map((r) => `${r}\n`).join(''));
}

function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** For the log line: where Prometheus should scrape. */
export function metricsUrl(address: Endpoint): string {
  return `http://${formatEndpoint(address)}/metrics`;
}
