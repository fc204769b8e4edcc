/**
 * A small block-style YAML writer for the Envoy bootstrap: mappings, sequences, and scalars. Every
 * string is written double-quoted in JSON syntax (a subset of YAML's double-quoted style), so no
 * value is ever read back as a number, a boolean or a null, in YAML 1.1 or 1.2.
 */
export type YamlValue = string | number | boolean | YamlValue[] | YamlMap;
export interface YamlMap {
  [key: string]: YamlValue | undefined;
}

export function toYaml(root: YamlMap): string {
  return mapping(root, 0).join('\n');
}

function mapping(map: YamlMap, indent: number): string[] {
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  for (const [k, v] of Object.entries(map)) {
    if (v === undefined) continue;
    const key = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : scalar(k);
    if (isScalar(v) || isEmpty(v)) lines.push(`${pad}${key}: ${inline(v)}`);
    else lines.push(`${pad}${key}:`, ...(Array.isArray(v) ? sequence(v, indent + 2) : mapping(v, indent + 2)));
  }
  return lines;
}

function sequence(items: YamlValue[], indent: number): string[] {
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  for (const item of items) {
    if (isScalar(item) || isEmpty(item)) lines.push(`${pad}- ${inline(item)}`);
    else if (Array.isArray(item)) throw new Error('nested sequences are not used in the bootstrap');
    else {
      // The first key goes on the dash line; the rest align under it.
      const inner = mapping(item, indent + 2);
      lines.push(`${pad}- ${inner[0].slice(indent + 2)}`, ...inner.slice(1));
    }
  }
  return lines;
}

function isScalar(v: YamlValue): v is string | number | boolean {
  return typeof v !== 'object';
}

function isEmpty(v: YamlValue): boolean {
  return typeof v === 'object' && (Array.isArray(v) ? v.length === 0 : Object.values(v).every((x) => x === undefined));
}

function inline(v: YamlValue): string {
  if (isScalar(v)) return scalar(v);
  return Array.isArray(v) ? '[]' : '{}';
}

function scalar(v: string | number | boolean): string {
  if (typeof v !== 'string') return String(v);
  // JSON leaves these raw; YAML 1.1 readers take them for line breaks.
  return JSON.stringify(v).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
