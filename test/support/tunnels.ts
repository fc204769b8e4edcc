/** Builds validated tunnel configs for tests, through the real parser. */
import { parseTunnels } from '../../src/core/config/parse';
import { TunnelConfig } from '../../src/core/config/model';
import { ThrowawayPki } from '../../src/core/pki/testPki';

export function tunnelConfig(pki: ThrowawayPki, targetPort: number, overrides: Record<string, unknown> = {}): TunnelConfig {
  const raw = {
    name: 'test', listen: 0, target: `127.0.0.1:${targetPort}`, serverName: 'localhost',
    cert: pki.client.cert, key: pki.client.key, ca: pki.ca, connectTimeoutMs: 3000,
    ...overrides,
  };
  const { tunnels, errors } = parseTunnels([raw]);
  if (errors.length > 0) throw new Error(errors.map(String).join('\n'));
  return tunnels[0];
}
