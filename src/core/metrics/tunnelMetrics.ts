/**
 * The tunnels' numbers as Prometheus metrics, read from a TunnelManager from the outside: its
 * entries' counts on every scrape, each tunnel's snapshot for the bytes, and the connectionOpened
 * event for the connect latency. Names and labels are a stable contract (the README lists them).
 *
 * Counters must never go down, but a restarted tunnel is a new Tunnel object whose counts start
 * at zero; so what an earlier Tunnel of the same name counted is carried forward when the
 * manager's object changes. Nothing here sees client bytes, keys or passphrases: only counts,
 * codes, names and dates.
 */
import { TunnelManager } from '../manager';
import { Tunnel } from '../tunnel/tunnel';
import { Histogram, HistogramFamily, MetricFamily, writeExposition } from './promText';

/**
 * Seconds from accepting the local client to relaying: TCP (and proxy), preamble and TLS
 * handshake, and the protocol's part over TLS. Spans a resumed session on loopback (~1 ms) to a
 * slow handshake across the world.
 */
export const CONNECT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface Totals {
  connections: number;
  bytesUp: number;
  bytesDown: number;
  failures: Record<string, number>;
}

interface Tracked {
  tunnel?: Tunnel;
  /** What earlier Tunnel objects of this name counted. */
  carried: Totals;
  latency: Histogram;
  unsubscribe?: () => void;
}

const zero = (): Totals => ({ connections: 0, bytesUp: 0, bytesDown: 0, failures: {} });

function totalsOf(tunnel: Tunnel | undefined): Totals {
  if (!tunnel) return zero();
  const s = tunnel.snapshot();
  return { connections: s.totalConnections, bytesUp: s.bytesUp, bytesDown: s.bytesDown, failures: { ...s.handshakesFailed } as Record<string, number> };
}

function add(a: Totals, b: Totals): Totals {
  const failures = { ...a.failures };
  for (const [code, n] of Object.entries(b.failures)) failures[code] = (failures[code] ?? 0) + n;
  return { connections: a.connections + b.connections, bytesUp: a.bytesUp + b.bytesUp, bytesDown: a.bytesDown + b.bytesDown, failures };
}

export class TunnelMetrics {
  private readonly tracked = new Map<string, Tracked>();
  private readonly onChanged = (name: string | undefined) => (name === undefined ? this.names().forEach((n) => this.follow(n)) : this.follow(name));

  /** `names`: the tunnels to report (those `up` was asked to run); default every tunnel of the manager. */
  constructor(private readonly manager: TunnelManager, private readonly selected?: readonly string[]) {
    manager.on('changed', this.onChanged);
    for (const n of this.names()) this.follow(n);
  }

  dispose(): void {
    this.manager.off('changed', this.onChanged);
    for (const t of this.tracked.values()) t.unsubscribe?.();
  }

  names(): string[] {
    const all = this.manager.names();
    return this.selected ? this.selected.filter((n) => all.includes(n)) : all;
  }

  /** The Prometheus text for every selected tunnel, as of now. */
  exposition(): string {
    const up: MetricFamily = { name: 'mtls_tunnel_up', help: '1 while the tunnel listens, else 0.', type: 'gauge', samples: [] };
    const open: MetricFamily = { name: 'mtls_tunnel_open_connections', help: 'Local connections open now.', type: 'gauge', samples: [] };
    const total: MetricFamily = { name: 'mtls_tunnel_connections_total', help: 'Local connections accepted.', type: 'counter', samples: [] };
    const bytes: MetricFamily = { name: 'mtls_tunnel_bytes_total', help: 'Plaintext bytes relayed: up is client to server, down is server to client.', type: 'counter', samples: [] };
    const failures: MetricFamily = { name: 'mtls_tunnel_handshake_failures_total', help: 'Connections that could not be established, by diagnosis code.', type: 'counter', samples: [] };
    const expiry: MetricFamily = { name: 'mtls_tunnel_client_certificate_expiry_timestamp_seconds', help: 'When the client certificate new connections present expires (Unix time; PEM or PKCS#12 credentials).', type: 'gauge', samples: [] };
    const latency: HistogramFamily = { name: 'mtls_tunnel_connect_duration_seconds', help: 'From accepting a local connection to relaying its bytes: connect, preamble and TLS handshake.', type: 'histogram', series: [] };
    for (const name of this.names()) {
      const t = this.follow(name);
      const entry = this.manager.entry(name);
      if (!t || !entry) continue;
      const labels = { tunnel: name };
      const totals = add(t.carried, totalsOf(t.tunnel));
      up.samples.push({ labels, value: entry.state === 'running' ? 1 : 0 });
      open.samples.push({ labels, value: entry.counts?.openConnections ?? 0 });
      total.samples.push({ labels, value: totals.connections });
      bytes.samples.push({ labels: { ...labels, direction: 'up' }, value: totals.bytesUp }, { labels: { ...labels, direction: 'down' }, value: totals.bytesDown });
      for (const [code, n] of Object.entries(totals.failures).sort(([a], [b]) => a.localeCompare(b))) failures.samples.push({ labels: { ...labels, code }, value: n });
      const leaf = t.tunnel?.clientCertificate;
      if (leaf) expiry.samples.push({ labels, value: Math.floor(new Date(leaf.validTo).getTime() / 1000) });
      latency.series.push(t.latency.series(labels));
    }
    return writeExposition([up, open, total, bytes, failures, expiry, latency]);
  }

  /** Keeps up with the manager's Tunnel object for `name`: carries the old one's counts, listens to the new one. */
  private follow(name: string): Tracked | undefined {
    if (this.selected && !this.selected.includes(name)) return undefined;
    let t = this.tracked.get(name);
    if (!t) {
      t = { carried: zero(), latency: new Histogram(CONNECT_BUCKETS) };
      this.tracked.set(name, t);
    }
    const current = this.manager.tunnel(name);
    if (current === t.tunnel) return t;
    t.carried = add(t.carried, totalsOf(t.tunnel));
    t.unsubscribe?.();
    t.tunnel = current;
    t.unsubscribe = undefined;
    if (current) {
      const latency = t.latency;
      // Emitted the moment the connection starts relaying, so now minus its accept time is its connect time.
      const onOpened = (c: { openedAt: number }) => latency.observe((Date.now() - c.openedAt) / 1000);
      current.on('connectionOpened', onOpened);
      t.unsubscribe = () => current.off('connectionOpened', onOpened);
    }
    return t;
  }
}
