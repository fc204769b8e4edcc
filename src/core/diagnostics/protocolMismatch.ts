/**
 * The doctor's protocol probe, as a diagnosis: the target is another service than `protocol`
 * says (name the right value), or the server's plaintext port (point at its TLS port).
 */
import type { ServiceFound } from '../doctor/protocolProbe';
import { TunnelConfig, formatEndpoint } from '../config/model';
import { Diagnosis } from './diagnosis';

export function protocolMismatch(config: Pick<TunnelConfig, 'name' | 'target' | 'protocol'>, found: ServiceFound, detail?: string): Diagnosis | undefined {
  const t = `Tunnel "${config.name}"`;
  const target = formatEndpoint(config.target);
  // A TLS tunnel's own sentence already quotes what a plaintext HTTP server said to the ClientHello.
  if (found.service === 'plain HTTP' && (config.protocol === 'tls' || config.protocol === 'postgres-direct')) return undefined;
  if (found.plaintext) {
    const fix = /^PostgreSQL/.test(found.service)
      ? 'Enable TLS on the server (ssl = on in postgresql.conf) and set "protocol": "postgres", or point "target" at a server that has it.'
      : /^Redis/.test(found.service)
        ? 'Point "target" at the server\'s TLS port (Redis: its tls-port), not its plaintext port.'
        : 'Point "target" at the server\'s TLS port; this one does not speak TLS.';
    return { code: 'PLAINTEXT_PORT', severity: 'error', summary: `${t}: ${target} is ${found.service}, a plaintext port: ${found.evidence}.`, fix, detail };
  }
  if (!found.protocol || found.protocol === config.protocol) return undefined;
  if (found.protocol === 'tls' && config.protocol === 'postgres-direct') return undefined;
  const also = found.protocol === 'tls' && config.protocol === 'postgres' ? ' (or "postgres-direct", if it is PostgreSQL 17+ with direct TLS)' : '';
  return {
    code: 'WRONG_PROTOCOL', severity: 'error',
    summary: `${t}: ${target} is ${found.service}, which a "${config.protocol}" tunnel cannot talk to: ${found.evidence}.`,
    fix: `Set "protocol": "${found.protocol}"${also}.`,
    detail,
  };
}
