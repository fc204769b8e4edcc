/**
 * The Prometheus text format as Prometheus parses it: HELP and TYPE before the samples, label
 * values with `\`, `"` and newlines escaped (a tunnel may be named anything), cumulative
 * histogram buckets ending in +Inf equal to the count.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Histogram, escapeLabelValue, writeExposition } from '../../src/core/metrics/promText';

describe('Prometheus text exposition', () => {
  test('each family has HELP and TYPE, then one line per sample', () => {
    const text = writeExposition([
      { name: 'mtls_tunnel_up', help: '1 while listening.', type: 'gauge', samples: [{ labels: { tunnel: 'db' }, value: 1 }, { labels: { tunnel: 'web' }, value: 0 }] },
      { name: 'mtls_tunnel_connections_total', help: 'Accepted.', type: 'counter', samples: [] },
    ]);
    assert.equal(text, [
      '# HELP mtls_tunnel_up 1 while listening.',
      '# TYPE mtls_tunnel_up gauge',
      'mtls_tunnel_up{tunnel="db"} 1',
      'mtls_tunnel_up{tunnel="web"} 0',
      '# HELP mtls_tunnel_connections_total Accepted.',
      '# TYPE mtls_tunnel_connections_total counter',
      '',
    ].join('\n'));
  });

  test('label values escape backslash, double quote and newline; HELP escapes backslash and newline', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    const text = writeExposition([{ name: 'm', help: 'two\nlines \\ here', type: 'gauge', samples: [{ labels: { tunnel: 'we"ird\\name\n' }, value: 2 }] }]);
    assert.match(text, /^# HELP m two\\nlines \\\\ here$/m);
    assert.match(text, /^m\{tunnel="we\\"ird\\\\name\\n"\} 2$/m);
    assert.equal(text.split('\n').length, 4, 'no sample spills onto a second line');
  });

  test('special values are written as Prometheus reads them', () => {
    const text = writeExposition([{ name: 'm', help: 'h', type: 'gauge', samples: [{ labels: {}, value: NaN }, { labels: {}, value: Infinity }, { labels: {}, value: 0.25 }] }]);
    assert.deepEqual(text.trim().split('\n').slice(2), ['m NaN', 'm +Inf', 'm 0.25']);
  });

  test('histogram buckets are cumulative, a value equal to a bound falls in it, +Inf is the count', () => {
    const h = new Histogram([0.1, 0.5, 1]);
    for (const v of [0.05, 0.1, 0.3, 2]) h.observe(v);
    const text = writeExposition([{ name: 'd_seconds', help: 'h', type: 'histogram', series: [h.series({ tunnel: 'db' })] }]);
    assert.deepEqual(text.trim().split('\n').slice(1), [
      '# TYPE d_seconds histogram',
      'd_seconds_bucket{tunnel="db",le="0.1"} 2',
      'd_seconds_bucket{tunnel="db",le="0.5"} 3',
      'd_seconds_bucket{tunnel="db",le="1"} 3',
      'd_seconds_bucket{tunnel="db",le="+Inf"} 4',
      'd_seconds_sum{tunnel="db"} 2.45',
      'd_seconds_count{tunnel="db"} 4',
    ]);
  });
});
