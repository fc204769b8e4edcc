/** What the export tests share: one parsed tunnel to build on, and line-wise assertions. */
import assert from 'node:assert/strict';
import { TunnelConfig } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';

/** The tunnel "staging db" (15432 → db.internal:5432, PEM identity), with `overrides`, parsed with `env`. */
export function exportTestTunnel(overrides: Record<string, unknown>, env: NodeJS.ProcessEnv): TunnelConfig {
  const raw = {
    name: 'staging db', listen: 15432, target: 'db.internal:5432', serverName: 'db.internal',
    cert: '/pki/client.crt', key: '/pki/client.key', ca: '/pki/ca.crt', ...overrides,
  };
  const { tunnels, errors } = parseTunnels([raw], { env });
  assert.deepEqual(errors.map(String), []);
  return tunnels[0];
}

export const lines = (text: string) => text.split('\n');

export function hasLine(text: string, line: string): void {
  assert.ok(lines(text).includes(line), `missing line ${JSON.stringify(line)} in:\n${text}`);
}
