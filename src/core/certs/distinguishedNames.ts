/**
 * Distinguished Names as DER, for comparing names exactly (a server's list of acceptable client
 * CAs with our chain's issuers), and as one line of text. Node's X509Certificate offers only the
 * printed form, so node-forge reads the ASN.1.
 */
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';

/** The DER of a certificate's issuer and subject Names, for comparing with the names a server lists. */
export function issuerAndSubject(cert: X509Certificate): { issuer: Buffer; subject: Buffer } | undefined {
  try {
    const tbs = forge.asn1.fromDer(forge.util.createBuffer(cert.raw.toString('binary'))).value[0] as forge.asn1.Asn1;
    const fields = tbs.value as forge.asn1.Asn1[];
    const at = fields[0].tagClass === forge.asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
    const der = (n: forge.asn1.Asn1) => Buffer.from(forge.asn1.toDer(n).getBytes(), 'binary');
    return { issuer: der(fields[at + 2]), subject: der(fields[at + 4]) };
  } catch {
    return undefined;
  }
}

/** `CN=Example Root, O=Example`, in the order the Name holds its attributes. */
export function nameText(der: Buffer): string {
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
    // RDNAttributesAsArray is public in node-forge but missing from its type definitions.
    const attributes = (forge.pki as unknown as { RDNAttributesAsArray(rdn: forge.asn1.Asn1): Array<{ shortName?: string; name?: string; type: string; value: string; valueTagClass?: number }> }).RDNAttributesAsArray(asn1);
    return attributes.map((a: { shortName?: string; name?: string; type: string; value: string; valueTagClass?: number }) => {
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
