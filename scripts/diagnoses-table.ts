/**
 * The README's troubleshooting table, one row per diagnosis code. Typed as a Record over
 * `DiagnosisCode`, so `tsc` fails when a code is added to src/core/diagnostics without a row
 * here; the script also fails when a code is never produced anywhere in src/core, and
 * `--check` (run by the unit tests) fails when README.md is not what this script writes.
 *   npx tsx scripts/diagnoses-table.ts           rewrite the table in README.md
 *   npx tsx scripts/diagnoses-table.ts --check   exit 1 if README.md is out of date
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXPIRES_SOON_DAYS } from '../src/core/certs/validity';
import type { DiagnosisCode } from '../src/core/diagnostics/diagnosis';

/** What the code means (the tunnel's own sentence names the files, hosts and dates), and what to change. */
export const DIAGNOSES: Record<DiagnosisCode, [meaning: string, fix: string]> = {
  // reaching the target
  DNS_FAILED: ["The target's host name does not resolve, or DNS does not answer.", 'The host in `target`; your VPN or DNS.'],
  CONNECTION_REFUSED: ['Nothing listens at the target host and port.', 'The port in `target`; is the server running and reachable from here?'],
  CONNECT_TIMEOUT: ['No answer within `connectTimeoutMs`: to the TCP connect, or to the protocol preamble or TLS handshake after it.', 'Host, port, VPN, firewalls; whether the port speaks TLS and `protocol` matches. Raise `connectTimeoutMs` only for a slow network.'],
  HOST_UNREACHABLE: ['No route from this machine to the target.', 'Your network or VPN, and firewalls in between.'],
  PEER_RESET: ['The server, or something in between, reset the connection (or altered the TLS stream).', "The server's logs, and whatever sits between you and it."],
  TARGET_SPEAKS_PLAINTEXT: ['The target answered in plaintext, not TLS (Test Connection quotes what it said).', 'Point `target` at the TLS port; for PostgreSQL use `"protocol": "postgres"`.'],
  POSTGRES_SSL_REFUSED: ['PostgreSQL answered `N` to the SSLRequest: the server runs with `ssl = off`.', 'Enable ssl on the server, or check that `target` is the right server.'],
  PROTOCOL_ERROR: ["The server's answer in the protocol preamble (PostgreSQL, MySQL) makes no sense for that protocol.", '`protocol` and the port in `target`.'],
  WRONG_PROTOCOL: ['Test Connection asked the port what it is (an SSLRequest, a listen for a MySQL greeting, a TLS ClientHello) and it is another service than `protocol` says: PostgreSQL for a `tls` tunnel, TLS from the first byte for a `postgres` or `mysql` one.', 'The `protocol` value the sentence names.'],
  PLAINTEXT_PORT: ["The target is a service's plaintext port (Redis answering PING, plain HTTP, PostgreSQL with `ssl = off`): the sentence quotes its answer.", "Point `target` at the server's TLS port (or turn TLS on in the server)."],
  ALL_TARGETS_FAILED: ['A tunnel with several `target`s could use none of them, for different reasons: the sentence gives each target its own (when they all failed alike, that code is used instead).', 'What each target\'s reason says; the tunnel uses the first that works again (`targetPolicy`).'],
  // through an HTTP CONNECT proxy
  PROXY_UNREACHABLE: ['The proxy (named with its credentials redacted) cannot be reached: refused, unresolvable, unreachable, or silent.', "The proxy's host and port in `proxy` (or `HTTPS_PROXY`); is it running?"],
  PROXY_AUTH_REQUIRED: ['The proxy answered 407: it wants credentials and got none.', '`"proxy": "http://USER:${env:PROXY_PASSWORD}@host:port"`; a proxy that speaks only NTLM or Negotiate needs a local helper such as cntlm or px.'],
  PROXY_AUTH_FAILED: ['The proxy answered 407 (or 401) to the credentials it was given.', 'The user name, and the password in the environment variable (never shown); only Basic authentication is spoken.'],
  PROXY_DENIED: ['The proxy answered 403: it does not allow a tunnel to the target (many allow only port 443).', "Ask its administrators to allow CONNECT to the target, or bypass it (`NO_PROXY`, or no `proxy`)."],
  PROXY_TARGET_UNREACHABLE: ['The proxy answered 5xx: it could not reach the target itself.', '`target` as the proxy sees it (it resolves the name); is the server running?'],
  PROXY_REJECTED: ['The proxy refused the CONNECT with another status (quoted).', 'That `proxy` is an HTTP proxy that allows CONNECT (a plain web server answers like this too).'],
  PROXY_NO_REPLY: ['The proxy hung up, reset, or stayed silent instead of answering the CONNECT.', "That `proxy` points at an HTTP proxy's port; the proxy's log says why."],
  PROXY_NOT_HTTP: ["What answers at the proxy's address does not speak HTTP.", "The proxy's plain HTTP port (often 3128 or 8080)."],
  // the server's identity
  SERVER_CERT_UNTRUSTED: ["The server's certificate comes from a CA that your `ca` file (or, without `ca`, Node's public roots) does not hold; the sentence names the issuer.", 'Add that CA to the `ca` file, or point `ca` at the bundle the server operators publish.'],
  SERVER_CERT_SELF_SIGNED: ['The server presents a self-signed certificate that is not in `ca`.', 'Put that certificate, or the CA that should have issued it, in the `ca` file.'],
  SERVER_NAME_MISMATCH: ["The server's certificate is not valid for `serverName` (by default the host in `target`); the sentence lists the names it carries.", '`serverName`, or the host in `target`.'],
  SERVER_CERT_EXPIRED: ["The server's certificate has expired.", 'Its operators renew it; this check cannot be switched off.'],
  SERVER_CERT_NOT_YET_VALID: ["The server's certificate is not valid yet.", "This machine's clock."],
  SERVER_SAN_MISSING: ["The server's certificate lacks a name required by `verify.subjectAltNames`; the sentence lists those it has.", '`verify.subjectAltNames`, or a server certificate that carries them.'],
  SERVER_PIN_MISMATCH: ["The server's key matches no pin in `verify.spkiSha256`: another server, or a rotated key.", 'If the rotation is expected, the new pin (the sentence gives it).'],
  SERVER_CHAIN_INCOMPLETE: ['The server sends its certificate without the intermediate CA that issued it (the sentence names it), so it cannot be chained to the root in `ca`.', "On the server: its certificate file must hold its certificate followed by the intermediate; as a workaround, add that intermediate to the `ca` file."],
  SERVER_CERT_WRONG_PURPOSE: ["The server's certificate (or a CA above it) has an extended key usage without `serverAuth`: it is not meant for a TLS server.", 'Its operators install a certificate issued for server authentication; this check cannot be switched off.'],
  CA_FILE_NOT_CA: ['The `ca` file holds only leaf certificates (a server\'s or a client\'s own), no CA: it cannot vouch for any server.', 'Point `ca` at the certificate of the CA (the root) that issued the server\'s chain.'],
  SERVER_CERT_REVOKED: ["The server's certificate (serial given), or a CA certificate above it, is revoked by your `crl`.", "The server's operators replace it; if your CRL is out of date or from the wrong CA, replace the file (it is reloaded)."],
  CRL_UNUSABLE: ['Your `crl` cannot answer for the server\'s chain: no CRL from one of its CAs (every certificate of the chain is checked), or a CRL that has expired, is not valid yet, or is badly signed.', 'The current CRL of every CA in the chain, PEM blocks one after another, in the `crl` file.'],
  // our identity, as the server sees it
  CLIENT_CERT_REQUIRED: ['The server requires a client certificate and did not get one it accepts.', '`cert` and `key` (or `pfx`), issued by a CA the server trusts.'],
  CLIENT_CERT_UNKNOWN_CA: ['The server does not know the CA that issued your client certificate.', 'A certificate from a CA the server trusts, or ask its operators to add yours.'],
  CLIENT_CERT_EXPIRED: ['Your client certificate has expired.', 'Renew it.'],
  CLIENT_CERT_NOT_YET_VALID: ['Your client certificate is not valid yet.', "This machine's clock, or a certificate that is valid now."],
  CLIENT_CERT_REVOKED: ['The server says your client certificate has been revoked.', 'A new certificate from your CA.'],
  CLIENT_CERT_REJECTED: ['The server refused your client certificate: with an alert, or by closing or resetting the connection right after the handshake, as servers that check it in application code do.', 'That it is meant for client authentication (EKU clientAuth) and comes from a CA the server trusts: `mtls-tunnels inspect CERT`.'],
  CLIENT_CERT_NOT_REQUESTED: ['Warning from Test Connection: a handshake without a client certificate got through, so the server does not enforce mTLS in TLS.', 'If it should, ask its operators to require client certificates (some check later: nginx answers HTTP 400, MySQL refuses a REQUIRE X509 user at login).'],
  CLIENT_CHAIN_INCOMPLETE: ['Your `cert` file holds only your certificate, not the intermediate CA that issued it (the sentence names it and where it was found), so the server cannot chain it to the root it trusts.', 'Append that intermediate\'s certificate to the `cert` file, after yours.'],
  CLIENT_CA_NOT_ACCEPTED: ["The server refused your client certificate, and the CAs it names in its TLS 1.2 CertificateRequest (quoted) do not include any issuer of your chain: a fact read from the handshake, not a guess.", 'A certificate issued by one of those CAs, or ask the operators to accept yours.'],
  CLIENT_CERT_WRONG_PURPOSE: ['The server refused your client certificate, whose extended key usage lacks `clientAuth`: it was issued for something else (often a server certificate).', 'A certificate issued for client authentication: `mtls-tunnels inspect CERT` shows its EKU.'],
  CLIENT_CERT_EXPIRES_SOON: [`Warning: your client certificate expires within ${EXPIRES_SOON_DAYS} days, or is inside its renewal window (\`renewBefore\`, by default the last third of its lifetime, when \`identityCommand\` or \`renewBefore\` is set); the sentence says whether \`identityCommand\` renews it.`, 'Renew it before then, or let `identityCommand` do it.'],
  // the login, once TLS works (Test Connection asks the application)
  LOGIN_REFUSED: ['TLS works, but the application refused the login (the sentence quotes it: no pg_hba.conf entry, certificate authentication failed for user, an error reply).', '`user` (by default the certificate\'s CN) and `database`, or what the server\'s operators allow (pg_hba.conf, pg_ident.conf, ACLs).'],
  LOGIN_DATABASE_MISSING: ['PostgreSQL let the user in, but the database does not exist.', '`database` (without it, the user\'s name).'],
  LOGIN_PASSWORD_REQUIRED: ['Information: TLS works and the application wants a password too (PostgreSQL md5/SCRAM, Redis NOAUTH).', 'Give your client the password; the tunnel carries it.'],
  LOGIN_NO_ANSWER: ["TLS works, but the application did not answer the login check in its protocol (quoted), or not in time.", 'That the service behind `target` is the one `protocol` says.'],
  // TLS parameters
  ALPN_REFUSED: ['The server accepts none of the ALPN protocols offered.', '`alpn` (`h2` for gRPC); for PostgreSQL before 17, `protocol: "postgres"` instead of `postgres-direct`.'],
  TLS_VERSION_MISMATCH: ['The server does not support `minTlsVersion` or newer.', 'Ask its operators for TLS 1.2 or newer; older versions are never allowed.'],
  HANDSHAKE_FAILED: ['The TLS handshake failed otherwise: no shared parameters, or the server ended it (the sentence quotes its alert).', 'Run Test Connection (`mtls-tunnels check`) to see what was offered and answered.'],
  // local credentials and listener
  FILE_MISSING: ['A `cert`, `key`, `pfx` or `ca` file does not exist (the sentence names field and path), or the tunnel has no client identity.', 'The path; `cert` with `key`, or `pfx`.'],
  FILE_UNREADABLE: ['A credential file exists but cannot be read.', 'Read permission for your user; a file, not a folder.'],
  PEM_MALFORMED: ['A file does not hold what its field needs: no PEM certificate (or a key instead), no readable private key, not a PKCS#12 bundle.', 'Point the field at the right file.'],
  KEY_CERT_MISMATCH: ['The private key does not belong to the certificate.', 'The key made with that certificate, or the certificate issued for that key.'],
  WRONG_PASSPHRASE: ['The passphrase of the encrypted key or PKCS#12 bundle is wrong.', 'Enter it again when asked (a wrong stored one is forgotten), or fix the variable `passphrase` names.'],
  PASSPHRASE_REQUIRED: ['The key or PKCS#12 bundle is encrypted and no passphrase was given.', 'Enter it when asked, or set `"passphrase": "${env:NAME}"` (the CLI reads it only from there).'],
  IDENTITY_COMMAND_FAILED: ['`identityCommand` could not start or exited with an error: the sentence gives its exit code and the last lines it wrote on standard error (never its standard output, which may hold a key). The tunnel keeps its last good certificate while it is valid and tries again, 10 s doubling to 5 min.', 'Run the command in a terminal in the workspace folder, with `MTLS_TUNNEL_NAME`, `MTLS_CERT_FILE` and `MTLS_KEY_FILE` set; often a login to the CA has expired (`step ca login`, `vault login`).'],
  IDENTITY_COMMAND_TIMEOUT: ['`identityCommand` did not finish within 120 s and was stopped with everything it started (a prompt nobody answers, a CA that does not answer).', 'Make it run without questions (a provisioner password file, a token in the environment), and check that the CA is reachable.'],
  IDENTITY_COMMAND_OUTPUT_UNUSABLE: ['`identityCommand` exited 0, but what it left is not an identity: standard output with PEM but without a certificate or a private key, a key that does not belong to the certificate, or files it did not write.', 'Print the certificate (chain) and the private key as PEM, or print nothing and write `cert` and `key`.'],
  PORT_IN_USE: ["Something already listens on the tunnel's `listen` port.", 'Stop it (another tunnel, stunnel, a local database), or change `listen`.'],
  LISTEN_DENIED: ['Not allowed to listen on that port: below 1024 needs privileges.', 'A port above 1024 in `listen`.'],
  LISTEN_ADDRESS_UNAVAILABLE: ['The host in `listen` is not an address of this machine.', '`127.0.0.1` or `::1`.'],
  // settings that wait for the user (editor only)
  NEEDS_CONSENT: ['The editor only: `allowOtherUsers` or `unsafeListen` comes from a workspace or folder settings file, which cannot widen who may use your certificate by itself; the tunnel waits (a running one keeps its previous settings).', 'Allow it once for this workspace ("Allow for this workspace…"), or put the field in your user settings.'],
  UNKNOWN: ['Anything not recognized above; the sentence carries the raw error.', "Test Connection and the tunnel's log; please report it, so it gets its own sentence."],
};

const repo = path.resolve(__dirname, '..');
const README = path.join(repo, 'README.md');
const START = '<!-- diagnoses:start (generated by scripts/diagnoses-table.ts from src/core/diagnostics; do not edit) -->';
const END = '<!-- diagnoses:end -->';

export function renderTable(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = Object.entries(DIAGNOSES).map(([code, [meaning, fix]]) => `| \`${code}\` | ${cell(meaning)} | ${cell(fix)} |`);
  return [START, '| code | what it means | what to change |', '|---|---|---|', ...rows, END].join('\n');
}

/** The README with the table between its markers replaced by the current one. */
export function updatedReadme(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no "${START}" ... "${END}" block`);
  return readme.slice(0, start) + renderTable() + readme.slice(end + END.length);
}

/** Codes declared but never produced: a row for them would describe nothing. */
export function codesNeverProduced(): string[] {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts') && entry.name !== 'diagnosis.ts') sources.push(fs.readFileSync(file, 'utf8'));
    }
  };
  walk(path.join(repo, 'src/core'));
  const all = sources.join('\n');
  return Object.keys(DIAGNOSES).filter((code) => !all.includes(`'${code}'`));
}

function main(): number {
  const unused = codesNeverProduced();
  if (unused.length) {
    console.error(`diagnoses-table: never produced in src/core: ${unused.join(', ')}`);
    return 1;
  }
  const current = fs.readFileSync(README, 'utf8');
  const next = updatedReadme(current);
  if (process.argv.includes('--check')) {
    if (next === current) return 0;
    console.error('diagnoses-table: README.md is out of date; run npx tsx scripts/diagnoses-table.ts');
    return 1;
  }
  if (next !== current) fs.writeFileSync(README, next);
  console.log(`diagnoses-table: ${Object.keys(DIAGNOSES).length} codes${next === current ? ', README.md already up to date' : ' written to README.md'}`);
  return 0;
}

if (require.main === module) process.exitCode = main();
