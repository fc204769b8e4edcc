/**
 * The renewal command's failures in words: which tunnel, the field `identityCommand`, the exit
 * code and the last lines of its standard error. Never its standard output: that is where a
 * private key would be.
 */
import { formatDuration } from '../units';
import { Diagnosis } from './diagnosis';

export type IdentityCommandFailure =
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; stderrTail: string[] }
  | { kind: 'timeout'; timeoutMs: number; stderrTail: string[] }
  | { kind: 'not-started'; message: string }
  | { kind: 'unusable'; why: string; stderrTail?: string[] };

/** `meanwhile`: what the running tunnel does until the command works (a warning then, not an error). */
export function identityCommandDiagnosis(tunnel: string, failure: IdentityCommandFailure, meanwhile?: string): Diagnosis {
  const keeps = meanwhile;
  const t = `Tunnel "${tunnel}"`;
  const stderr = 'stderrTail' in failure && failure.stderrTail && failure.stderrTail.length > 0 ? failure.stderrTail.join(' | ') : undefined;
  const until = meanwhile ? ` Until then the tunnel ${meanwhile}.` : '';
  switch (failure.kind) {
    case 'exited': {
      const how = failure.code !== null ? `exited with code ${failure.code}` : `was ended by ${failure.signal ?? 'a signal'}`;
      return {
        code: 'IDENTITY_COMMAND_FAILED', severity: keeps ? 'warning' : 'error',
        summary: `${t}: identityCommand ${how}${stderr ? `; its last words on stderr: ${stderr}` : ' and wrote nothing on stderr'}.`,
        fix: `Run the command in a terminal in the workspace folder (with MTLS_TUNNEL_NAME, MTLS_CERT_FILE, MTLS_KEY_FILE set) and fix what it says; a login to the CA may have expired.${until}`,
      };
    }
    case 'timeout':
      return {
        code: 'IDENTITY_COMMAND_TIMEOUT', severity: keeps ? 'warning' : 'error',
        summary: `${t}: identityCommand did not finish within ${formatDuration(failure.timeoutMs)} and was stopped${stderr ? `; its last words on stderr: ${stderr}` : ''}.`,
        fix: `Make it run without asking anything (it has no terminal), and check that the CA answers.${until}`,
      };
    case 'not-started':
      return {
        code: 'IDENTITY_COMMAND_FAILED', severity: keeps ? 'warning' : 'error',
        summary: `${t}: identityCommand could not be started: ${failure.message}.`,
        fix: `Check that the workspace folder exists and a shell is available.${until}`,
      };
    case 'unusable':
      return {
        code: 'IDENTITY_COMMAND_OUTPUT_UNUSABLE', severity: keeps ? 'warning' : 'error',
        summary: `${t}: identityCommand exited 0 but ${failure.why}${stderr ? `; its last words on stderr: ${stderr}` : ''}.`,
        fix: `Make it print the certificate (chain) and its private key as PEM, or print nothing and write the cert and key files.${until}`,
      };
  }
}
