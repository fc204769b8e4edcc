/**
 * Quoting a plaintext target: the doctor dials once more as the tunnel does, over a tap that keeps
 * what comes back to our ClientHello ("HTTP/1.1 400 Bad Request", "-ERR …"). Only for targets that
 * expect TLS from the first byte; PostgreSQL's answer to the SSLRequest is already in its diagnosis.
 */
import * as tls from 'node:tls';
import { TunnelConfig } from '../config/model';
import { Credentials } from '../tls/credentials';
import { dialUpstream } from '../tunnel/upstream';
import { recordingTap } from './recordingTap';

/** The quote is a hint, not a wait: a silent target gets this long at most. */
const PLAINTEXT_WAIT_MS = 2000;

export async function recordPlaintextAnswer(config: TunnelConfig, credentials: Credentials): Promise<string | undefined> {
  if (config.protocol !== 'tls' && config.protocol !== 'postgres-direct') return undefined;
  const received: Buffer[] = [];
  try {
    const upstream = await dialUpstream({ ...config, connectTimeoutMs: Math.min(config.connectTimeoutMs, PLAINTEXT_WAIT_MS) }, credentials, {
      // No client identity: the answer is all we want, and a plaintext target asks for none.
      secureContext: tls.createSecureContext({ minVersion: config.minTlsVersion }),
      wrap: (raw) => recordingTap(raw, (chunk) => received.push(chunk)),
    });
    upstream.socket.destroy();
  } catch {
    // Expected: the target does not speak TLS; what it said is in `received`.
  }
  return firstLine(Buffer.concat(received));
}

/** The first line, printable ASCII only, at most 60 characters; undefined when nothing printable came. */
function firstLine(received: Buffer): string | undefined {
  const text = received.subarray(0, 200).toString('latin1').split(/\r?\n/)[0].replace(/[^\x20-\x7e]/g, '').trim();
  return text ? (text.length > 60 ? `${text.slice(0, 60)}…` : text) : undefined;
}
