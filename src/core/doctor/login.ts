/**
 * All the way to the login: once TLS works, the doctor asks the application whether it would let
 * the user in, and quotes its answer. PostgreSQL gets a StartupMessage as the tunnel's user (then a
 * Terminate, whatever it says); MySQL's greeting is read and TLS negotiated, and no login is tried
 * (that needs the user's password); Redis gets a PING; HTTP a `HEAD /`. Only the quoted answer is
 * kept, never more of what the server sent. The whole step stays within `connectTimeoutMs`.
 */
import { Duplex } from 'node:stream';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { clientKind, ClientKind } from '../clientEnv';
import { TunnelConfig } from '../config/model';
import { Credentials } from '../tls/credentials';
import { readUntil } from '../net/socketReader';
import { dialUpstream, UpstreamError } from '../tunnel/upstream';

/** More than any login answer holds: past it, the server is saying something else. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** What the doctor asked the application and what it answered. */
export interface LoginCheck {
  kind: ClientKind;
  /** `PostgreSQL StartupMessage as "alice" for database "staging"`, `Redis PING`, `HEAD /`. */
  asked: string;
  /** The server's answer as quoted: `AuthenticationOk`, `FATAL 28000: …`, `+PONG`, `HTTP/1.1 200 OK`. */
  answer: string;
  /**
   * `accepted`: in (AuthenticationOk, PONG); `password`: the server wants a password too;
   * `refused`: the server said no (a FATAL, an error reply); `answered`: an answer that is
   * neither (a greeting, an HTTP status); `no-answer`: nothing usable within the time;
   * `skipped`: not asked (no user known).
   */
  outcome: 'accepted' | 'password' | 'refused' | 'answered' | 'no-answer' | 'skipped';
  /** PostgreSQL's SQLSTATE, for a refusal. */
  sqlState?: string;
}

export interface LoginTarget {
  user?: string;
  database?: string;
}

/** Asks the application; undefined for a plain TCP service, where there is nothing to ask. */
export async function checkLogin(config: TunnelConfig, credentials: Credentials, who: LoginTarget, secureContext?: tls.SecureContext): Promise<LoginCheck | undefined> {
  const kind = clientKind(config);
  const deadline = Date.now() + config.connectTimeoutMs;
  if (kind === 'postgres') {
    const database = who.database ?? who.user;
    const asked = `PostgreSQL StartupMessage as "${who.user}" for database "${database}"`;
    if (!who.user) return { kind, asked: 'PostgreSQL StartupMessage', answer: 'not sent: no user is known (set "user", or use a certificate whose CN is the login)', outcome: 'skipped' };
    return converse(config, credentials, secureContext, deadline, { kind, asked }, startupMessage(who.user, database!), postgresAnswer, TERMINATE);
  }
  if (kind === 'mysql') return mysqlGreeting(config, credentials, secureContext, deadline);
  if (kind === 'redis') return converse(config, credentials, secureContext, deadline, { kind, asked: 'Redis PING' }, Buffer.from('*1\r\n$4\r\nPING\r\n'), redisAnswer);
  if (kind === 'http') {
    const host = config.serverName.includes(':') ? `[${config.serverName}]` : config.serverName;
    const request = `HEAD / HTTP/1.1\r\nHost: ${host}:${config.target.port}\r\nUser-Agent: mtls-tunnels-check\r\nConnection: close\r\n\r\n`;
    return converse(config, credentials, secureContext, deadline, { kind, asked: 'HEAD /' }, Buffer.from(request), httpAnswer);
  }
  return undefined;
}

type Answer = Pick<LoginCheck, 'answer' | 'outcome' | 'sqlState'>;
/** Reads an answer out of the bytes so far; undefined while it is incomplete. */
type Parse = (received: Buffer) => Answer | undefined;

const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

async function converse(config: TunnelConfig, credentials: Credentials, secureContext: tls.SecureContext | undefined, deadline: number, what: Pick<LoginCheck, 'kind' | 'asked'>, request: Buffer, parse: Parse, goodbye?: Buffer): Promise<LoginCheck> {
  let socket: tls.TLSSocket;
  try {
    socket = (await dialUpstream(config, credentials, { secureContext })).socket;
  } catch (e) {
    return { ...what, answer: `no answer: ${(e instanceof UpstreamError ? e.error : (e as Error)).message}`, outcome: 'no-answer' };
  }
  // The deadline destroys the socket, which ends the read with what came so far.
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    socket.destroy();
  }, Math.max(1, deadline - Date.now()));
  socket.on('error', () => undefined);
  socket.write(request);
  const answer = await readUntil<Answer>(socket, (received) => {
    const a = parse(received) ?? (received.length > MAX_ANSWER_BYTES ? { answer: 'an answer it could not read', outcome: 'no-answer' } : undefined);
    return a && { value: a, consumed: received.length };
  }, {
    onEnd: (received) => (late
      ? { answer: `no answer within ${config.connectTimeoutMs} ms`, outcome: 'no-answer' }
      : parse(received) ?? { answer: received.length ? 'an answer it could not read' : 'the server closed the connection without answering', outcome: 'no-answer' }),
  }).catch((): Answer => ({ answer: 'the server closed the connection without answering', outcome: 'no-answer' }))
    .finally(() => clearTimeout(timer));
  if (goodbye && !socket.destroyed) socket.write(goodbye);
  socket.end();
  socket.destroy();
  return { ...what, ...answer };
}

function startupMessage(user: string, database: string): Buffer {
  const params = ['user', user, 'database', database, 'application_name', 'mtls-tunnels check'];
  const body = Buffer.concat([...params.map((p) => Buffer.from(`${p}\0`, 'utf8')), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length + 8, 0);
  head.writeUInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}

const PG_AUTH: Record<number, string> = { 2: 'Kerberos', 3: 'a cleartext password', 5: 'an MD5 password', 7: 'GSSAPI', 9: 'SSPI', 10: 'a SCRAM password' };

/** PostgreSQL's first decisive message: AuthenticationOk, a request for more authentication, or an ErrorResponse. */
function postgresAnswer(received: Buffer): Answer | undefined {
  let at = 0;
  while (at + 5 <= received.length) {
    const type = String.fromCharCode(received[at]);
    const length = received.readUInt32BE(at + 1);
    if (length < 4 || length > 64 * 1024) return { answer: 'an answer that is not PostgreSQL protocol', outcome: 'no-answer' };
    if (at + 1 + length > received.length) return undefined;
    const body = received.subarray(at + 5, at + 1 + length);
    if (type === 'R') {
      // After AuthenticationOk the server still opens the database, and may fail there: wait for ReadyForQuery.
      const code = body.readUInt32BE(0);
      if (code !== 0) return { answer: `it asks for ${PG_AUTH[code] ?? `authentication method ${code}`}`, outcome: 'password' };
    }
    if (type === 'Z') return { answer: 'AuthenticationOk', outcome: 'accepted' };
    if (type === 'E') {
      const fields = new Map<string, string>();
      for (const part of body.toString('utf8').split('\0')) if (part) fields.set(part[0], part.slice(1));
      const severity = fields.get('V') ?? fields.get('S') ?? 'ERROR';
      return { answer: `${severity}: ${fields.get('M') ?? 'no message'}`, outcome: 'refused', sqlState: fields.get('C') };
    }
    at += 1 + length;
  }
  return undefined;
}

/** The first RESP line: `+PONG`, `-NOAUTH …`, `-ERR …`. */
function redisAnswer(received: Buffer): Answer | undefined {
  const end = received.indexOf('\r\n');
  if (end < 0) return received.length > 512 ? { answer: 'an answer that is not Redis protocol', outcome: 'no-answer' } : undefined;
  const line = printable(received.subarray(0, end));
  if (line === '+PONG') return { answer: line, outcome: 'accepted' };
  if (/^-(NOAUTH|WRONGPASS)/.test(line)) return { answer: line, outcome: 'password' };
  if (line.startsWith('-')) return { answer: line, outcome: 'refused' };
  return { answer: line, outcome: line.startsWith('+') ? 'accepted' : 'no-answer' };
}

function httpAnswer(received: Buffer): Answer | undefined {
  const end = received.indexOf('\r\n');
  if (end < 0) return received.length > 512 ? { answer: 'an answer that is not HTTP', outcome: 'no-answer' } : undefined;
  const line = printable(received.subarray(0, end));
  return /^HTTP\/\d(\.\d)? \d{3}/.test(line) ? { answer: line, outcome: 'answered' } : { answer: `not HTTP: "${line}"`, outcome: 'no-answer' };
}

function printable(b: Buffer): string {
  const text = b.toString('latin1').replace(/[^\x20-\x7e]/g, '').trim();
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

/**
 * MySQL: the greeting and TLS, through the tunnel's own MySQL negotiation with a stand-in local
 * client that answers the greeting with the first 32 bytes of a HandshakeResponse. The full
 * response (the login) is never sent: it needs the user's password, which only the user's client has.
 */
async function mysqlGreeting(config: TunnelConfig, credentials: Credentials, secureContext: tls.SecureContext | undefined, deadline: number): Promise<LoginCheck> {
  const asked = 'MySQL greeting and TLS';
  let version: string | undefined;
  const standIn = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      // The greeting as relayed: 4-byte header, protocol 10, the version string up to NUL.
      if (chunk[4] === 0x0a) version = printable(chunk.subarray(5, chunk.indexOf(0, 5))).replace(/^5\.5\.5-(?=.*MariaDB)/, '');
      // (MariaDB prefixes its version with 5.5.5- for old clients' sake.)
      const response = Buffer.alloc(36);
      response.writeUIntLE(32, 0, 3);
      response[3] = 1;
      response.writeUInt32LE(0x0200 | 0x8000 | 0x80000, 4); // PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH
      response.writeUInt32LE(1 << 24, 8);
      response[12] = 0x21;
      this.push(response);
      callback();
    },
  });
  const timeoutMs = Math.max(1, deadline - Date.now());
  try {
    const upstream = await dialUpstream({ ...config, connectTimeoutMs: timeoutMs }, credentials, { secureContext, client: standIn as unknown as net.Socket });
    upstream.socket.destroy();
    return { kind: 'mysql', asked, answer: `${version ? `server ${version}` : 'a greeting'}; TLS with the client certificate accepted (the login itself needs the user's password, and was not tried)`, outcome: 'answered' };
  } catch (e) {
    return { kind: 'mysql', asked, answer: `no answer: ${(e instanceof UpstreamError ? e.error : (e as Error)).message}`, outcome: 'no-answer' };
  } finally {
    standIn.destroy();
  }
}
