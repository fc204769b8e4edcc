/**
 * The few bytes of DER this project reads without a parser (a certificate's outer fields, on
 * paths where node-forge must not load): one element's tag and where it begins, where its
 * content begins and where it ends. Definite lengths up to 4 bytes; anything else throws.
 */

export interface DerElement {
  tag: number;
  /** Offset of the tag byte. */
  begin: number;
  /** Offset of the first content byte. */
  content: number;
  /** Offset just past the last content byte. */
  end: number;
}

export const SEQUENCE = 0x30;
export const OID = 0x06;

/** The element that starts at `at`; RangeError when the DER is truncated or its length is unsupported. */
export function derElement(der: Uint8Array, at: number): DerElement {
  const tag = der[at];
  const first = der[at + 1];
  if (tag === undefined || first === undefined) throw new RangeError('truncated DER');
  let length = first;
  let content = at + 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new RangeError('unsupported DER length');
    length = 0;
    for (let i = 0; i < n; i++) {
      const byte = der[at + 2 + i];
      if (byte === undefined) throw new RangeError('truncated DER');
      length = length * 256 + byte;
    }
    content += n;
  }
  const end = content + length;
  if (end > der.length) throw new RangeError('truncated DER');
  return { tag, begin: at, content, end };
}
