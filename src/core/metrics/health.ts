/**
 * Health and readiness of a set of tunnels, as a supervisor or a load balancer asks for them.
 *
 * Healthy: every selected tunnel listens, and the client certificate its new connections present
 * is inside its validity dates (a certificate that merely expires soon is still healthy; the
 * expiry metric is there to alert on it). Ready (`check`): the doctor's handshake to each target
 * works now; it dials every target, so its answer is kept a few seconds and concurrent askers
 * share one run.
 */
import { validityOf } from '../certs/validity';
import { TunnelConfig } from '../config/model';
import { clientValidity } from '../diagnostics/clientValidity';
import { TunnelManager } from '../manager';

export interface HealthAnswer {
  ok: boolean;
  /** One line per problem, naming the tunnel; empty when ok. */
  reasons: string[];
}

/** Why each selected tunnel is not healthy, one line each. */
export function tunnelHealth(manager: TunnelManager, names: readonly string[], now: Date = new Date()): HealthAnswer {
  const reasons: string[] = [];
  for (const name of names) {
    const entry = manager.entry(name);
    if (!entry) {
      reasons.push(reasonLine(name, 'not configured'));
      continue;
    }
    if (entry.state !== 'running') {
      const why = entry.lastDiagnosis && entry.lastDiagnosis.severity === 'error' ? `: ${withoutName(name, entry.lastDiagnosis.summary)}` : '';
      reasons.push(reasonLine(name, `not listening (${entry.state})${why}`));
      continue;
    }
    const leaf = manager.tunnel(name)?.clientCertificate;
    if (!leaf) continue; // a certificate OpenSSL would not show back: its dates are read at the handshake
    const status = validityOf(leaf, now).status;
    if (status === 'expired' || status === 'not yet valid') {
      reasons.push(reasonLine(name, clientValidity(entry.config, leaf, 'loaded', now)?.summary ?? `the client certificate is ${status}`));
    }
  }
  return { ok: reasons.length === 0, reasons };
}

/**
 * `NAME: what is wrong`, one line: a diagnosis' own `Tunnel "NAME": ` is not said twice, and a
 * newline inside a sentence cannot split one reason into two.
 */
export function reasonLine(name: string, text: string): string {
  return `${name}: ${withoutName(name, text).replace(/\s*\n\s*/g, ' ')}`;
}

function withoutName(name: string, text: string): string {
  // `Tunnel "NAME": …`, or with several targets `Tunnel "NAME", target HOST:PORT: …`.
  for (const prefix of [`Tunnel "${name}": `, `Tunnel "${name}", `]) if (text.startsWith(prefix)) return text.slice(prefix.length);
  return text;
}

/** The doctor's verdict on one tunnel, as readiness needs it. */
export interface TargetCheck {
  ok: boolean;
  /** The first failing diagnosis' sentence when not ok. */
  reason?: string;
}

export type CheckTarget = (config: TunnelConfig) => Promise<TargetCheck>;

/** Runs `check` on every selected tunnel's target, at most once per `maxAgeMs`. */
export class ReadinessCheck {
  private last?: { at: number; answer: HealthAnswer };
  private running?: Promise<HealthAnswer>;

  constructor(
    private readonly manager: TunnelManager,
    private readonly names: readonly string[],
    private readonly check: CheckTarget,
    private readonly maxAgeMs = 5000,
    private readonly clock: () => number = Date.now,
  ) {}

  answer(): Promise<HealthAnswer> {
    if (this.last && this.clock() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.answer);
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<HealthAnswer> {
    const results = await Promise.all(
      this.names.map(async (name) => {
        const config = this.manager.entry(name)?.config;
        if (!config) return reasonLine(name, 'not configured');
        const r = await this.check(config).catch((e: Error): TargetCheck => ({ ok: false, reason: `the check failed: ${e.message}` }));
        return r.ok ? undefined : reasonLine(name, r.reason ?? 'the check failed');
      }),
    );
    const reasons = results.filter((r): r is string => r !== undefined);
    const answer = { ok: reasons.length === 0, reasons };
    this.last = { at: this.clock(), answer };
    return answer;
  }
}
