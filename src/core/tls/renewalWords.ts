/**
 * One line about a tunnel's client certificate and what renews it, for the tree's tooltip and
 * the status bar: when it expires, whether it is inside its renewal window (or within 14 days of
 * its end), and whether identityCommand will renew it. Plain text; the editor escapes it.
 */
import { EXPIRES_SOON_DAYS, DAY_MS } from '../certs/validity';
import { TunnelConfig } from '../config/model';
import { formatDuration } from '../units';
import { IdentityStatus } from './renewal';

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
