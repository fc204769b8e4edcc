/**
 * A real nginx (single process, foreground) serving HTTPS only to clients whose certificate chains
 * to the test root (`ssl_verify_client on`). `/` answers with the client's subject DN so a test
 * sees which identity arrived (`/serial` with its certificate's serial number); `/files/large.bin` is a random file for byte-exact downloads.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { binary } from './binaries';
import { Daemon, waitUntilReady } from './daemon';
import { unusedPort } from '../ports';
import { tlsAnswers } from './ports';
import { once, removeDir, RunningServer, ServerOptions, startIn } from './server';

export interface NginxOptions extends ServerOptions {
  /** Size of the static file served at `largeFile.urlPath`. Default 8 MiB. */
  largeFileBytes?: number;
}

export interface RunningNginx extends RunningServer {
  /** `https://localhost:PORT` (the server certificate names localhost). */
  origin: string;
  largeFile: { urlPath: string; size: number; sha256: string };
}

function config(dir: string, port: number, options: NginxOptions): string {
  const at = (name: string) => path.join(dir, name);
  return `
daemon off;
master_process off;
pid ${at('nginx.pid')};
error_log ${at('error.log')} info;
events { worker_connections 256; }
http {
  access_log ${at('access.log')};
  client_body_temp_path ${at('tmp/body')};
  proxy_temp_path ${at('tmp/proxy')};
  fastcgi_temp_path ${at('tmp/fastcgi')};
  uwsgi_temp_path ${at('tmp/uwsgi')};
  scgi_temp_path ${at('tmp/scgi')};
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${options.pki.server.cert};
    ssl_certificate_key ${options.pki.server.key};
    ssl_client_certificate ${options.pki.ca};
    ssl_verify_client on;
    ssl_verify_depth 3;
    # nginx closes a keep-alive connection after 1000 requests by default; the renewal soak keeps
    # one open across every renewal to show it survives them.
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    location = / {
      default_type text/plain;
      return 200 "client=$ssl_client_s_dn verify=$ssl_client_verify\\n";
    }
    location = /serial {
      default_type text/plain;
      return 200 "$ssl_client_serial\n";
    }
    location /files/ {
      alias ${at('www')}/;
    }
  }
}
`;
}

export function startNginx(options: NginxOptions): Promise<RunningNginx> {
  return startIn('nginx', async (dir, onFailure) => {
    const port = options.port ?? (await unusedPort());
    await mkdir(path.join(dir, 'tmp'));
    await mkdir(path.join(dir, 'www'));
    const large = randomBytes(options.largeFileBytes ?? 8 * 1024 * 1024);
    await writeFile(path.join(dir, 'www', 'large.bin'), large);
    const conf = path.join(dir, 'nginx.conf');
    await writeFile(conf, config(dir, port, options));

    const daemon = new Daemon('nginx', binary('nginx'), ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf], { cwd: dir });
    onFailure(() => daemon.stop('SIGKILL'));
    const log = async () => daemon.log + (await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => ''));
    await waitUntilReady(daemon, () => tlsAnswers(port), { timeoutMs: options.startTimeoutMs ?? 15_000, describeFailure: log });
    return {
      host: '127.0.0.1' as const,
      port,
      dir,
      origin: `https://localhost:${port}`,
      largeFile: { urlPath: '/files/large.bin', size: large.length, sha256: createHash('sha256').update(large).digest('hex') },
      log,
      // SIGTERM is nginx's fast shutdown.
      stop: once(async () => {
        await daemon.stop('SIGTERM', 5_000);
        await removeDir(dir);
      }),
    };
  });
}
