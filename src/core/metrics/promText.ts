/**
 * Prometheus' text exposition format (version 0.0.4), written by hand: it is a few lines of
 * rules, and a client library would bring a registry and default process metrics we do not want.
 * Each family is `# HELP`, `# TYPE`, then its samples; label values escape `\`, `"` and newline,
 * HELP text escapes `\` and newline. https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Sample[];
}

/** One histogram series: cumulative counts per upper bound (`le`), their sum and count. */
export interface HistogramSeries {
  labels: Labels;
  /** Upper bounds, ascending, without +Inf. */
  bounds: readonly number[];
  /** Observations at or below each bound (not cumulative: the writer sums them). */
  counts: readonly number[];
  sum: number;
  count: number;
}

export interface HistogramFamily {
  name: string;
  help: string;
  type: 'histogram';
  series: HistogramSeries[];
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
}

/** The whole exposition: every family, each with its HELP and TYPE even when it has no samples yet. */
export function writeExposition(families: (MetricFamily | HistogramFamily)[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') {
      for (const s of f.series) {
        let cumulative = 0;
        s.bounds.forEach((bound, i) => {
          cumulative += s.counts[i] ?? 0;
          lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: formatValue(bound) })} ${cumulative}`);
        });
        lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
        lines.push(`${f.name}_sum${labelText(s.labels)} ${formatValue(s.sum)}`, `${f.name}_count${labelText(s.labels)} ${s.count}`);
      }
    } else {
      for (const s of f.samples) lines.push(`${f.name}${labelText(s.labels)} ${formatValue(s.value)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Counts observations into buckets; `le` bounds as Prometheus reads them (an observation equal to a bound is in it). */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  series(labels: Labels): HistogramSeries {
    return { labels, bounds: this.bounds, counts: [...this.counts], sum: this.sum, count: this.count };
  }
}
