/**
 * Our client certificate's own dates as a diagnosis: expired, not yet valid, or close enough to
 * its end to renew now. The tunnel asks when it loads credentials, the doctor after a handshake;
 * both get the same sentences.
 */
import { X509Certificate } from 'node:crypto';
import { dayCount, isoDay, validityOf } from '../certs/validity';
import { TunnelConfig } from '../config/model';
import { Diagnosis } from './diagnosis';

/**
 * When the dates are read: `loaded` (the tunnel starts; no server has been asked yet),
 * `accepted` (a server took the certificate anyway) or `refused` (the handshake failed).
 */
export type ClientCertificateMoment = 'loaded' | 'accepted' | 'refused';

export function clientValidity(config: Pick<TunnelConfig, 'name' | 'cert' | 'pfx'>, leaf: X509Certificate, moment: ClientCertificateMoment, now: Date = new Date()): Diagnosis | undefined {
  const t = `Tunnel "${config.name}"`;
  const file = config.cert ?? config.pfx;
  const validity = validityOf(leaf, now);
  const severity = moment === 'refused' ? 'error' : 'warning';
  const anyway = moment === 'accepted' ? '; this server accepted it anyway, but servers that check will refuse it' : moment === 'loaded' ? '; servers will refuse it' : '';
  switch (validity.status) {
    case 'expired':
      return { code: 'CLIENT_CERT_EXPIRED', severity, summary: `${t}: your client certificate expired on ${isoDay(validity.validTo)}${anyway}.`, fix: `Renew the certificate in ${file}.` };
    case 'not yet valid':
      return { code: 'CLIENT_CERT_NOT_YET_VALID', severity, summary: `${t}: your client certificate is not valid until ${isoDay(validity.validFrom)}${anyway}.`, fix: "Check this machine's clock, or use a certificate that is valid now." };
    case 'expires soon':
      return { code: 'CLIENT_CERT_EXPIRES_SOON', severity: 'warning', summary: `${t}: your client certificate expires on ${isoDay(validity.validTo)}, in ${dayCount(validity.daysLeft)}.`, fix: `Renew the certificate in ${file} before then, or the server will refuse the tunnel.` };
    case 'valid':
      return undefined;
  }
}
