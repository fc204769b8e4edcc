/**
 * Names as Node's X509Certificate reports them, reshaped for one-line display: distinguished
 * names come one attribute per line, SANs as one comma-separated string.
 */

/** `CN=alice\nO=Example` → `CN=alice, O=Example` (the order the certificate holds them in). */
export function oneLineName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

/**
 * The CN of a name as X509Certificate prints it (`CN=alice\nO=Example`), or as a TLS socket's
 * peer certificate carries it (`{ CN: 'alice', O: 'Example' }`, an array when repeated).
 */
export function commonNameOf(name: string | { CN?: string | string[] } | undefined): string | null {
  if (name === undefined) return null;
  if (typeof name !== 'string') return Array.isArray(name.CN) ? name.CN.join(', ') : name.CN ?? null;
  const line = name.split('\n').find((l) => l.startsWith('CN='));
  return line === undefined ? null : line.slice(3);
}

/**
 * `DNS:localhost, IP Address:127.0.0.1` → `['DNS:localhost', 'IP Address:127.0.0.1']`. Node
 * quotes a value that itself contains a comma (`DNS:"a, b"`), so a comma inside quotes is data.
 */
export function splitSubjectAltNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const names: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < subjectAltName.length; i++) {
    const ch = subjectAltName[i];
    if (ch === '\\' && quoted) {
      current += ch + (subjectAltName[++i] ?? '');
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === ',' && !quoted) {
      names.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  if (current.trim()) names.push(current.trim());
  return names;
}
