/**
 * `mtls-tunnels up`: runs the selected tunnels until SIGINT/SIGTERM. Credentials of every tunnel
 * are checked before any of them listens (fail fast, exit 1); once listening, each prints
 * `NAME listening on HOST:PORT -> TARGET (PROTOCOL)` on stdout; connections and diagnoses go to
 * stderr. A signal drains open connections, then exits 0. With `--metrics HOST:PORT` it also
 * serves Prometheus metrics and health (metricsServer.ts), bound before any tunnel listens.
 */
import { Endpoint, TunnelConfig, formatEndpoint } from '../core/config/model';
import { formatDiagnosis } from '../core/diagnostics/diagnosis';
import { Logger } from '../core/log';
import { TunnelManager } from '../core/manager';
import { CredentialsError, loadCredentials } from '../core/tls/credentials';
import { TunnelStartError } from '../core/tunnel/tunnel';
import { MetricsServer, metricsUrl, startMetricsServer } from './metricsServer';

export interface UpIo {
  stdout(s: string): void;
  stderr(s: string): void;
  logger: Logger;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  stopSignal: Promise<string>;
  /** `--metrics HOST:PORT`, already checked to be loopback (or allowed by `--unsafe-metrics`). */
  metrics?: Endpoint;
}

export async function runUp(tunnels: TunnelConfig[], io: UpIo, drainTimeoutMs = 5000): Promise<number> {
  for (const t of tunnels) {
    // A tunnel with identityCommand may start without its files: the command makes them when it starts.
    if (t.identityCommand) continue;
    try {
      await loadCredentials(t, t.passphrase);
    } catch (e) {
      if (!(e instanceof CredentialsError)) throw e;
      io.stderr(`mtls-tunnels: ${formatDiagnosis(e.diagnosis)}\n`);
      return 1;
    }
  }
  const manager = new TunnelManager({ logger: io.logger, drainTimeoutMs });
  manager.apply(tunnels);
  // Bound before any tunnel listens: a taken metrics port fails the start like a taken tunnel port.
  let metrics: MetricsServer | undefined;
  if (io.metrics) {
    try {
      metrics = await startMetricsServer(manager, tunnels.map((t) => t.name), io.metrics);
    } catch (e) {
      io.stderr(`mtls-tunnels: cannot serve metrics on ${formatEndpoint(io.metrics)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return 1;
    }
  }
  for (const t of tunnels) {
    try {
      await manager.start(t.name);
    } catch (e) {
      const message = e instanceof TunnelStartError ? formatDiagnosis(e.diagnosis) : `Tunnel "${t.name}": ${(e as Error).message}`;
      io.stderr(`mtls-tunnels: ${message}\n`);
      await manager.dispose();
      await metrics?.close();
      return 1;
    }
    const tunnel = manager.tunnel(t.name)!;
    const addr = tunnel.listeningOn()!;
    io.stdout(`${t.name} listening on ${formatEndpoint(addr)} -> ${t.targets.map(formatEndpoint).join(',')} (${t.protocol})\n`);
    if (t.proxy) io.logger.info(`[${t.name}] through the HTTP proxy ${t.proxy.url}${t.proxy.source === 'settings' ? '' : ` (from ${t.proxy.source})`}`);
    else if (t.proxyBypass) io.logger.info(`[${t.name}] "proxy": "env" goes direct: ${t.proxyBypass}`);
    tunnel.on('connectionOpened', (c) => {
      const h = c.handshake;
      io.logger.info(`[${t.name}] #${c.id} ${c.client} connected${h ? ` (${h.version}${h.resumed ? ', resumed' : ''}${h.warm ? ', warm' : ''})` : ''}`);
    });
    // The close is the tunnel's own log line (`#N closed after …`), as in the editor's log.
  }
  if (metrics) io.stdout(`metrics on ${metricsUrl(metrics.address)} (also /healthz, /readyz?check=1)\n`);
  const signal = await io.stopSignal;
  io.logger.info(`${signal}: stopping ${tunnels.length} tunnel(s)`);
  await manager.dispose();
  await metrics?.close();
  return 0;
}
