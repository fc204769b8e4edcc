/**
 * A real Redis server with TLS only (`--port 0`) that demands a client certificate chaining to the
 * test root (`--tls-auth-clients yes`), with persistence off.
 */
import { binary } from './binaries';
import { Daemon, waitUntilReady } from './daemon';
import { unusedPort } from '../ports';
import { tlsAnswers } from './ports';
import { once, removeDir, RunningServer, ServerOptions, startIn } from './server';

export type RunningRedis = RunningServer;

export function startRedis(options: ServerOptions): Promise<RunningRedis> {
  return startIn('redis', async (dir, onFailure) => {
    const port = options.port ?? (await unusedPort());
    const daemon = new Daemon('redis-server', binary('redis-server'), [
      '--port', '0',
      '--tls-port', String(port),
      '--tls-cert-file', options.pki.server.cert,
      '--tls-key-file', options.pki.server.key,
      '--tls-ca-cert-file', options.pki.ca,
      '--tls-auth-clients', 'yes',
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--logfile', '',
    ], { cwd: dir });
    onFailure(() => daemon.stop('SIGKILL'));
    await waitUntilReady(daemon, () => tlsAnswers(port), { timeoutMs: options.startTimeoutMs ?? 15_000 });
    return {
      host: '127.0.0.1' as const,
      port,
      dir,
      log: async () => daemon.log,
      stop: once(async () => {
        await daemon.stop('SIGTERM', 5_000);
        await removeDir(dir);
      }),
    };
  });
}
