/**
 * What really listens at the target, when a handshake failed in a way that suggests the wrong
 * `protocol`: a `tls` tunnel reset by PostgreSQL (it took our ClientHello for a startup packet) or
 * greeted by MariaDB in plaintext, a `postgres` or `mysql` tunnel at a port that speaks TLS from
 * the first byte. Each probe is a fresh connection that sends one opening (or nothing, to hear a
 * server that speaks first) and reads one answer: listen, then PostgreSQL's SSLRequest, a TLS
 * ClientHello (verified as the tunnel would; no data is sent), Redis PING, HTTP HEAD. The first
 * answer that identifies a service wins.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Protocol, TunnelConfig } from '../config/model';
import { sniFor } from '../tls/identity';
import { firstHop, proxyConnect } from '../tunnel/proxy';

/** What answered, in the words the diagnosis quotes. */
export interface ServiceFound {
  /** The `protocol` value that fits, or undefined when the port is a plaintext one no protocol fits. */
  protocol?: Protocol;
  /** `PostgreSQL`, `MySQL/MariaDB (10.11.6-MariaDB)`, `Redis without TLS`, `plain HTTP`. */
  service: string;
  /** What it did: `it answered an SSLRequest with S`. */
  evidence: string;
  /** True when this is the server's plaintext port (no TLS at all here). */
  plaintext: boolean;
}

/** Each probe waits this long for its answer, within the connect timeout. */
const PROBE_MS = 1500;
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

type ProbeConfig = Pick<TunnelConfig, 'target' | 'proxy' | 'serverName' | 'connectTimeoutMs' | 'minTlsVersion'>;

export async function identifyService(config: ProbeConfig, trust: tls.SecureContext | undefined): Promise<ServiceFound | undefined> {
  const ms = Math.min(PROBE_MS, config.connectTimeoutMs);
  const greeting = await exchange(config, undefined, ms);
  if (greeting && greeting.length > 0) return fromGreeting(greeting);
  const pg = await exchange(config, SSL_REQUEST, ms);
  if (pg?.length === 1 && pg[0] === 0x53) return { protocol: 'postgres', service: 'PostgreSQL', evidence: 'it answered an SSLRequest with S (go ahead with TLS)', plaintext: false };
  if (pg?.length === 1 && pg[0] === 0x4e) return { service: 'PostgreSQL with TLS turned off (ssl = off)', evidence: 'it answered an SSLRequest with N', plaintext: true };
  if (await speaksTls(config, trust, ms)) return { protocol: 'tls', service: 'a TLS server', evidence: 'it answers a TLS ClientHello sent as the first byte', plaintext: false };
  const redis = await exchange(config, Buffer.from('PING\r\n'), ms);
  const redisLine = redis && firstLine(redis);
  if (redisLine && /^(\+PONG|-NOAUTH|-DENIED)/.test(redisLine)) return { service: 'Redis without TLS', evidence: `it answered PING with "${redisLine}"`, plaintext: true };
  const http = await exchange(config, Buffer.from(`HEAD / HTTP/1.0\r\nHost: ${config.serverName}\r\n\r\n`), ms);
  const httpLine = http && firstLine(http);
  if (httpLine && /^HTTP\/\d/.test(httpLine)) return { service: 'plain HTTP', evidence: `it answered HEAD / with "${httpLine}"`, plaintext: true };
  return undefined;
}

function fromGreeting(data: Buffer): ServiceFound | undefined {
  // A MySQL packet: 3-byte length, sequence 0, protocol version 10, version string up to NUL.
  if (data.length > 5 && data[3] === 0 && data[4] === 0x0a) {
    const end = data.indexOf(0, 5);
    const version = data.subarray(5, end > 0 ? end : undefined).toString('latin1').replace(/[^\x20-\x7e]/g, '').replace(/^5\.5\.5-(?=.*MariaDB)/, '');
    return { protocol: 'mysql', service: `MySQL/MariaDB (${version})`, evidence: 'it greeted first with a MySQL handshake', plaintext: false };
  }
  // Another banner (SSH, SMTP): the plaintext diagnosis already quotes it.
  return undefined;
}

/** One connection: send `request` (or nothing), collect what comes back until `enough` bytes (servers answer these in one write), the end, or `ms`. */
function exchange(config: ProbeConfig, request: Buffer | undefined, ms: number, enough = 1): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const socket = net.connect(firstHop(config));
    const done = (failed = false) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(failed && length === 0 ? undefined : Buffer.concat(chunks));
    };
    const timer = setTimeout(() => done(), ms);
    socket.on('error', () => done(true));
    socket.once('connect', async () => {
      try {
        if (config.proxy) await proxyConnect(socket, config.proxy, config.target);
      } catch {
        return done(true);
      }
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= enough) done();
      });
      socket.once('end', () => done());
      socket.resume();
      if (request) socket.write(request);
    });
  });
}

/** A TLS handshake from the first byte reaches TLS: the server's certificate, or a TLS alert. */
function speaksTls(config: ProbeConfig, trust: tls.SecureContext | undefined, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const raw = net.connect(firstHop(config));
    let secure: tls.TLSSocket | undefined;
    const done = (answer: boolean) => {
      clearTimeout(timer);
      secure?.destroy();
      raw.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), ms);
    raw.on('error', () => done(false));
    raw.once('connect', async () => {
      try {
        if (config.proxy) await proxyConnect(raw, config.proxy, config.target);
      } catch {
        return done(false);
      }
      secure = tls.connect({ socket: raw, secureContext: trust, servername: sniFor(config.serverName), minVersion: config.minTlsVersion, rejectUnauthorized: true });
      secure.once('secureConnect', () => done(true));
      secure.on('error', (e: NodeJS.ErrnoException) => {
        // A verification error or an alert means a TLS server answered; a reset or plaintext does not.
        const code = e.code ?? '';
        const tlsAnswered = /ALERT|CERT|SELF_SIGNED|UNABLE_TO|ALTNAME/.test(code) && !/WRONG_VERSION|PACKET_LENGTH|HTTP_REQUEST|UNKNOWN_PROTOCOL/.test(code);
        done(tlsAnswered);
      });
    });
  });
}

function firstLine(data: Buffer): string {
  const text = data.subarray(0, 200).toString('latin1').split(/\r?\n/)[0].replace(/[^\x20-\x7e]/g, '').trim();
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
