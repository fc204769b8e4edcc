/**
 * A tunnel with several targets that could use none of them: one diagnosis that names each
 * target with its own reason, so the log says why the second server did not save the day.
 */
import { Diagnosis } from './diagnosis';

export interface TargetFailure {
  /** `host:port`. */
  target: string;
  /** That target's own diagnosis (as if it were the tunnel's only target). */
  diagnosis: Diagnosis;
}

/**
 * One failure is that target's diagnosis. Several: their reasons one after the other, under the
 * code they share (all refused: CONNECTION_REFUSED, so metrics and the fix stay specific), or
 * ALL_TARGETS_FAILED when they differ.
 */
export function combineTargetFailures(tunnel: string, failures: TargetFailure[], untried: string[] = []): Diagnosis {
  if (failures.length === 1 && untried.length === 0) return failures[0].diagnosis;
  const prefix = `Tunnel "${tunnel}": `;
  const reason = (d: Diagnosis) => (d.summary.startsWith(prefix) ? d.summary.slice(prefix.length) : d.summary).replace(/\.$/, '');
  const codes = new Set(failures.map((f) => f.diagnosis.code));
  const fixes = new Set(failures.map((f) => f.diagnosis.fix));
  const shared = codes.size === 1 ? failures[0].diagnosis.code : 'ALL_TARGETS_FAILED';
  const notTried = untried.length > 0 ? ` (${untried.join(', ')} not tried: the local client had already heard from ${failures[failures.length - 1].target})` : '';
  const details = failures.map((f) => f.diagnosis.detail && `${f.target}: ${f.diagnosis.detail}`).filter(Boolean);
  return {
    code: shared,
    severity: 'error',
    summary: `${prefix}no target could be used${notTried}: ${failures.map((f) => `${f.target}: ${reason(f.diagnosis)}`).join('; ')}.`,
    fix: fixes.size === 1 ? failures[0].diagnosis.fix : failures.map((f) => `For ${f.target}: ${f.diagnosis.fix}`).join(' '),
    ...(details.length > 0 ? { detail: details.join(' | ') } : {}),
  };
}
