/**
 * `openssl s_server` on 127.0.0.1 for diagnosis tests. Node's own TLS server checks a client
 * certificate in JavaScript after the handshake and just drops the socket when it dislikes it;
 * servers built on OpenSSL's verification (PostgreSQL, Redis, HAProxy) send a TLS alert instead
 * (unknown ca, certificate expired). This is how to meet those alerts for real.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { PkiFiles } from '../../src/core/pki/testPki';
import { findBinary } from './servers/binaries';

export interface OpensslServer {
  port: number;
  close(): Promise<void>;
}

export interface OpensslServerOptions {
  identity: PkiFiles;
  /** CA file trusted for client certificates. */
  clientCa: string;
  /** Demand a client certificate and refuse a bad one with an alert (default true). */
  verifyClient?: boolean;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export function opensslBinary(): string | undefined {
  return findBinary('openssl');
}

export async function startOpensslServer(options: OpensslServerOptions): Promise<OpensslServer> {
  const openssl = opensslBinary();
  if (!openssl) throw new Error('missing openssl (apt-get install openssl)');
  const args = [
    's_server', '-accept', '127.0.0.1:0',
    '-cert', options.identity.cert, '-cert_chain', options.identity.cert, '-key', options.identity.key,
    '-CAfile', options.clientCa,
    // -rev answers each line reversed and never reads stdin, so the server outlives our handshakes.
    '-rev',
  ];
  if (options.verifyClient !== false) args.push('-Verify', '5', '-verify_return_error');
  if (options.maxVersion === 'TLSv1.2') args.push('-no_tls1_3');
  const child = spawn(openssl, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`openssl s_server did not start: ${out}`)), 5000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill();
      reject(e);
    };
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`openssl s_server exited with ${code}: ${out}`)));
  });
  // Keep draining its output so it never blocks on a full pipe.
  child.stdout.resume();
  child.stderr.resume();
  return { port, close: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
