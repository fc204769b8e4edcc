/**
 * `target` and `targetPolicy`: one `"host:port"` or a list of them (each element checked on its
 * own path, `target[1]`, so an editor marks the one that is wrong), and how a list is used.
 */
import { ConfigErrorLocation, DEFAULTS, Endpoint, TARGET_POLICIES, TargetPolicy, formatEndpoint } from './model';
import { parseEndpoint } from './endpoint';

type Report = (field: string, message: string, location?: Partial<ConfigErrorLocation>) => void;

/**
 * `"host:port"`, or a list of them (at least one, no repeats): each checked as `target[i]`, so an
 * editor marks the element that is wrong. The good ones come back in order.
 */
export function parseTargets(
  value: unknown,
  str: (field: string, value: unknown) => string | undefined,
  err: Report,
  missing: (field: string, message: string) => void,
): Endpoint[] {
  if (value === undefined) {
    missing('target', 'is required ("host:port" of the mTLS server, or a list of them)');
    return [];
  }
  const one = (field: string, raw: unknown): Endpoint | undefined => {
    const text = str(field, raw);
    if (text === undefined) return undefined;
    const parsed = parseEndpoint(text);
    if (typeof parsed === 'string') err(field, parsed);
    else if (parsed.port === 0) err(field, 'port must be from 1 to 65535');
    else return parsed;
    return undefined;
  };
  if (!Array.isArray(value)) {
    const t = one('target', value);
    return t ? [t] : [];
  }
  if (value.length === 0) {
    err('target', 'an empty list has no server to reach; give at least one "host:port"');
    return [];
  }
  const out: Endpoint[] = [];
  const seen = new Map<string, number>();
  value.forEach((raw, i) => {
    const t = one(`target[${i}]`, raw);
    if (!t) return;
    const key = formatEndpoint(t).toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) return err(`target[${i}]`, `${formatEndpoint(t)} is already target[${first}]; list each server once`);
    seen.set(key, i);
    out.push(t);
  });
  return out;
}

export function parseTargetPolicy(value: unknown, err: Report, describe: (v: unknown) => string, closest: (word: string, options: readonly string[]) => string | undefined): TargetPolicy {
  if (value === undefined) return DEFAULTS.targetPolicy;
  if ((TARGET_POLICIES as readonly unknown[]).includes(value)) return value as TargetPolicy;
  const near = typeof value === 'string' ? closest(value, TARGET_POLICIES) : undefined;
  err('targetPolicy', `must be ${TARGET_POLICIES.map((p) => `"${p}"`).join(' or ')}, not ${describe(value)}${near ? `; did you mean "${near}"?` : ''}`, near ? { fix: { kind: 'replaceValue', value: near } } : {});
  return DEFAULTS.targetPolicy;
}
