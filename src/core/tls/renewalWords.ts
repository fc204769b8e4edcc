/**
 * The words about a tunnel's client certificate and what renews it: one line for the tree's
 * tooltip and the status bar, and the warning in the log when it is loaded. Both say when it
 * expires, whether it is inside its renewal window (or within 14 days of its end), and whether
 * identityCommand will renew it. Plain text; the editor escapes it.
 */
import { X509Certificate } from 'node:crypto';
import { DAY_MS, EXPIRES_SOON_DAYS, dayCount, validityOf } from '../certs/validity';
import { TunnelConfig } from '../config/model';
import { clientValidity } from '../diagnostics/clientValidity';
import { Diagnosis } from '../diagnostics/diagnosis';
import { formatDuration } from '../units';
import type { IdentityStatus } from './renewal';

export interface RenewalWords {
  line: string;
  /** `warning`: inside the window or close to the end; `error`: expired, or the renewal failed with nothing valid left. */
  attention: 'none' | 'warning' | 'error';
}

function at(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace('T', ' ');
}

function inTime(ms: number): string {
  return ms < DAY_MS ? formatDuration(ms) : `${Math.floor(ms / DAY_MS)} days`;
}

/** Undefined when there is nothing worth a line (a long-lived certificate nothing renews, not yet loaded). */
export function renewalWords(config: Pick<TunnelConfig, 'identityCommand' | 'renewBefore'>, identity: IdentityStatus | undefined, now = Date.now()): RenewalWords | undefined {
  if (!identity) {
    if (!config.identityCommand) return undefined;
    return { line: 'identityCommand renews the client certificate: when the tunnel starts (if it is missing, expired or inside its renewal window) and when its renewal window opens.', attention: 'none' };
  }
  const left = identity.validTo - now;
  const byCommand = identity.renewedBy === 'command';
  const who = byCommand ? 'identityCommand renews it' : config.identityCommand ? 'identityCommand is not run in an untrusted workspace, so nothing renews it here' : 'nothing renews it here (no identityCommand)';
  if (left <= 0) {
    return { line: `Client certificate expired at ${at(identity.validTo)}; ${byCommand ? 'new connections wait for identityCommand to renew it, and are refused if it fails' : 'new connections are refused until the files are renewed'}.`, attention: 'error' };
  }
  if (identity.failure) return { line: `Renewing the client certificate failed; the last good one is used until ${at(identity.validTo)} (in ${inTime(left)}). ${identity.failure.summary}`, attention: 'warning' };
  const windowSet = byCommand || config.renewBefore !== undefined;
  const inWindow = windowSet && now >= identity.renewAt;
  const soon = left <= EXPIRES_SOON_DAYS * DAY_MS;
  if (inWindow || (soon && !byCommand)) {
    return { line: `Client certificate expires at ${at(identity.validTo)} (in ${inTime(left)})${inWindow ? ', inside its renewal window' : ''}; ${who}.`, attention: 'warning' };
  }
  if (byCommand) return { line: `Client certificate valid until ${at(identity.validTo)}; identityCommand renews it at ${at(identity.renewAt)} (in ${inTime(identity.renewAt - now)})${identity.source === 'command output' ? ', from its output, kept in memory' : ''}.`, attention: 'none' };
  return undefined;
}

/**
 * What a certificate just loaded deserves to be told (the tunnel's log, `up`'s stderr): expired
 * or not yet valid, always; close to its end (14 days) or inside its renewal window, saying
 * whether identityCommand renews it. One the command renews is not worth a warning before its
 * window opens (an hour-long certificate is always "within 14 days").
 */
export function expiryWarning(config: TunnelConfig, leaf: X509Certificate, commandRuns: boolean, due: boolean): Diagnosis | undefined {
  const base = clientValidity(config, leaf, 'loaded');
  if (base && base.code !== 'CLIENT_CERT_EXPIRES_SOON') return base;
  const inWindow = (commandRuns || config.renewBefore !== undefined) && due;
  if (!inWindow && (commandRuns || !base)) return undefined;
  // Nothing about renewal to add: the same sentence the doctor says.
  if (!inWindow && !config.identityCommand) return base;
  const validTo = new Date(leaf.validTo);
  const left = Math.max(0, validTo.getTime() - Date.now());
  const when = `expires at ${validTo.toISOString().replace(/\.000Z$/, 'Z')} (in ${left < DAY_MS ? formatDuration(left) : dayCount(validityOf(leaf).daysLeft)})`;
  const who = commandRuns ? 'identityCommand renews it' : config.identityCommand ? 'identityCommand is not run in an untrusted workspace, so nothing renews it here' : 'nothing renews it here (no identityCommand)';
  return {
    code: 'CLIENT_CERT_EXPIRES_SOON', severity: 'warning',
    summary: `Tunnel "${config.name}": your client certificate ${when}${inWindow ? ', inside its renewal window' : ''}; ${who}.`,
    fix: commandRuns ? 'Nothing to do while identityCommand works: a failure is reported with its cause.' : base?.fix ?? `Renew the certificate in ${config.cert} before then, or set identityCommand.`,
  };
}
