/**
 * The metric names are a contract: every family /metrics writes has a row in the README's table,
 * and every metric the table promises is written. Renaming one breaks this test first.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { TunnelManager } from '../../src/core/manager';
import { TunnelMetrics } from '../../src/core/metrics/tunnelMetrics';
import { parseTunnels } from '../../src/core/config/parse';

describe('the metric names', () => {
  test('are the ones the README lists', () => {
    const { tunnels } = parseTunnels([{ name: 'db', listen: 0, target: 'db.internal:5432', cert: '/c.crt', key: '/c.key' }]);
    const manager = new TunnelManager({ watchCredentials: false });
    manager.apply(tunnels);
    const metrics = new TunnelMetrics(manager);
    const written = [...metrics.exposition().matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    metrics.dispose();
    const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const listed = [...readme.matchAll(/^\| `(mtls_tunnel_[a-z_]+)(?:\{[^`]*\})?` \| (counter|gauge|histogram) \|/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    assert.deepEqual(listed, written);
    assert.equal(written.length, 7);
  });
});
