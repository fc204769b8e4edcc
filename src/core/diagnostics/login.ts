/**
 * The application's answer to the doctor's login check, as a diagnosis: refused (quoting the
 * server's own words), a database that does not exist, a password wanted on top of the
 * certificate, or no answer in the application's protocol. A login that works needs no diagnosis:
 * the report quotes it.
 */
import type { LoginCheck } from '../doctor/login';
import { TunnelConfig } from '../config/model';
import { Diagnosis } from './diagnosis';

export function loginDiagnosis(config: Pick<TunnelConfig, 'name' | 'protocol'>, login: LoginCheck, who: { user?: string; database?: string; certificateCommonName?: string }): Diagnosis | undefined {
  const t = `Tunnel "${config.name}"`;
  const app = login.kind === 'postgres' ? 'PostgreSQL' : login.kind === 'mysql' ? 'MySQL' : login.kind === 'redis' ? 'Redis' : 'The server';
  const user = who.user ?? '?';
  const database = who.database ?? who.user ?? '?';
  switch (login.outcome) {
    case 'accepted':
    case 'answered':
    case 'skipped':
      return undefined;
    case 'refused': {
      if (login.sqlState === '3D000') {
        return { code: 'LOGIN_DATABASE_MISSING', severity: 'error', summary: `${t}: PostgreSQL let "${user}" in, but the database "${database}" does not exist (it said "${login.answer}").`, fix: `Set "database" to a database that exists on the server (without "database", it is the user's name).` };
      }
      return { code: 'LOGIN_REFUSED', severity: 'error', summary: `${t}: TLS works, but ${app === 'The server' ? 'the server' : app} refused the login${login.kind === 'postgres' ? ` as "${user}" for database "${database}"` : ''}: "${login.answer}".`, fix: refusalFix(login, user, database, who.certificateCommonName) };
    }
    case 'password':
      return {
        code: 'LOGIN_PASSWORD_REQUIRED', severity: 'info',
        summary: login.kind === 'redis'
          ? `${t}: TLS works, and Redis wants a password before any command (it answered "${login.answer}").`
          : `${t}: TLS works, and PostgreSQL asks "${user}" for a password (${login.answer.replace(/^it asks for /, '')}): the certificate alone does not log in.`,
        fix: login.kind === 'redis'
          ? 'Give your client the password (redis-cli -a, or in REDIS_URL); the tunnel carries it.'
          : 'Your client must supply the password (PGPASSWORD or ~/.pgpass); for certificate login ask for a "cert" line in pg_hba.conf.',
      };
    case 'no-answer':
      return {
        code: 'LOGIN_NO_ANSWER', severity: login.kind === 'postgres' || login.kind === 'mysql' ? 'warning' : 'info',
        summary: `${t}: TLS works, but the ${login.asked} got ${login.answer.startsWith('no answer') ? login.answer : `no usable answer (${login.answer})`}.`,
        fix: `Check that the service behind "target" is the one you expect for "protocol" (${config.protocol}); the TLS part of the tunnel works.`,
      };
  }
}

function refusalFix(login: LoginCheck, user: string, database: string, commonName: string | undefined): string {
  const said = login.answer;
  if (/certificate authentication failed/i.test(said)) {
    return `With certificate authentication the certificate's CN${commonName ? ` (${commonName})` : ''} must be the database user: set "user" to it, or ask the operators to map it to "${user}" in pg_ident.conf.`;
  }
  if (/no pg_hba\.conf entry/i.test(said)) {
    return `Ask the server's operators for a pg_hba.conf line that admits "${user}" to "${database}" over TLS (e.g. hostssl ${database} ${user} … cert clientcert=verify-full), or fix "user" and "database".`;
  }
  if (/role .* does not exist/i.test(said)) return `Set "user" to a role that exists (now "${user}"), or ask the operators to create it.`;
  if (/requires a valid client certificate/i.test(said)) return 'The server checks the certificate at login: use "cert"/"key" (or "pfx") the server accepts.';
  if (login.kind === 'redis') return "Check the server's ACL for this client (ACL LOG on the server shows why).";
  return 'Check "user" and "database", and what the server\'s operators allow.';
}
