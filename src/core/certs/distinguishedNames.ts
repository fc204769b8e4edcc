/**
 * Distinguished Names as DER, for comparing names exactly (a server's list of acceptable client
 * CAs with our chain's issuers), and as one line of text. Node's X509Certificate offers only the
 * printed form. The DER slices come from a short walk over the certificate's outer fields (sync,
 * on the tunnel's failure path, so node-forge stays out of the activation bundle); the text, which
 * only the doctor shows, comes from node-forge, loaded on first use.
 */
import { X509Certificate } from 'node:crypto';
import type * as Forge from 'node-forge';
import { derElement as element, SEQUENCE } from './der';

/** The DER of a certificate's issuer and subject Names, for comparing with the names a server lists. */
export function issuerAndSubject(cert: X509Certificate): { issuer: Buffer; subject: Buffer } | undefined {
  try {
    const der = cert.raw;
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    //   signature, issuer, validity, subject, ... }, ... }
    const tbs = element(der, element(der, 0).content);
    let field = element(der, tbs.content);
    if (field.tag === 0xa0) field = element(der, field.end);
    const signature = element(der, field.end);
    const issuer = element(der, signature.end);
    const validity = element(der, issuer.end);
    const subject = element(der, validity.end);
    if (issuer.tag !== SEQUENCE || subject.tag !== SEQUENCE) return undefined;
    return { issuer: der.subarray(issuer.begin, issuer.end), subject: der.subarray(subject.begin, subject.end) };
  } catch {
    return undefined;
  }
}

async function loadForge(): Promise<typeof Forge> {
  const loaded = (await import('node-forge')) as typeof Forge & { default?: typeof Forge };
  return loaded.default ?? loaded;
}

/** `CN=Example Root, O=Example`, in the order the Name holds its attributes. */
export async function nameText(der: Buffer): Promise<string> {
  try {
    const forge = await loadForge();
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
    // RDNAttributesAsArray is public in node-forge but missing from its type definitions.
    const attributes = (forge.pki as unknown as { RDNAttributesAsArray(rdn: Forge.asn1.Asn1): Array<{ shortName?: string; name?: string; type: string; value: string; valueTagClass?: number }> }).RDNAttributesAsArray(asn1);
    return attributes.map((a) => {
      let value = a.value;
      try {
        if (a.valueTagClass === forge.asn1.Type.UTF8) value = forge.util.decodeUtf8(value);
      } catch {
        // Not UTF-8 after all: shown as it is.
      }
      return `${a.shortName ?? a.name ?? a.type}=${value}`;
    }).join(', ');
  } catch {
    return `(a name of ${der.length} bytes)`;
  }
}
