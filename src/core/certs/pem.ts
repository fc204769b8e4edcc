/**
 * Splits PEM text into its blocks. Certificates, chains, CA bundles and keys often share one file,
 * and OpenSSL writes extras (EC PARAMETERS, "Bag Attributes" lines) that must not break parsing.
 */
export interface PemBlock {
  /** The word(s) between BEGIN and the dashes, e.g. `CERTIFICATE`, `EC PRIVATE KEY`. */
  label: string;
  /** RFC 1421 headers, present on legacy encrypted keys (`Proc-Type: 4,ENCRYPTED`). */
  headers: Record<string, string>;
  /** The block re-encoded as clean PEM text (what Node's crypto functions accept). */
  pem: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** OpenSSL still reads (and old tools still write) the pre-RFC 7468 label. */
export function isCertificateLabel(label: string): boolean {
  return label === 'CERTIFICATE' || label === 'X509 CERTIFICATE';
}

export function looksLikePem(text: string): boolean {
  return text.includes('-----BEGIN ');
}

export function splitPem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const [, label, inner] = match;
    const headers: Record<string, string> = {};
    const bodyLines: string[] = [];
    for (const raw of inner.split(/\r?\n/)) {
      const line = raw.trim();
      const header = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (header && bodyLines.length === 0) headers[header[1]] = header[2];
      else if (line) bodyLines.push(line);
    }
    const body = bodyLines.join('');
    const headerText = Object.entries(headers).map(([k, v]) => `${k}: ${v}\n`).join('');
    const wrapped = body.replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
    blocks.push({
      label,
      headers,
      pem: `-----BEGIN ${label}-----\n${headerText}${headerText ? '\n' : ''}${wrapped}-----END ${label}-----\n`,
      der: Buffer.from(body, 'base64'),
    });
  }
  return blocks;
}

/** The certificate blocks of PEM text, in file order: a chain, a CA bundle, Node's root store. */
export function pemCertificates(text: string): PemBlock[] {
  return splitPem(text).filter((b) => isCertificateLabel(b.label));
}
