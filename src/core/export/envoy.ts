/**
 * The tunnel as a static Envoy v3 bootstrap: one listener running tcp_proxy into one cluster whose
 * upstream transport socket is TLS with the client certificate. Envoy verifies the server name
 * only through `match_typed_subject_alt_names`, and verifies nothing without `trusted_ca`, so both
 * are always written.
 */
import { Endpoint, TunnelConfig, isSocketPath } from '../config/model';
import { sniFor } from '../tls/identity';
import { ExportResult, SYSTEM_CA_BUNDLE, commonNotes, header, isIp, slug } from './shared';
import { YamlMap, toYaml } from './yaml';

/** Where the Envoy config reads the key or PKCS#12 passphrase from; the passphrase itself is never written. */
export const ENVOY_PASSPHRASE_ENV = 'MTLS_TUNNEL_PASSPHRASE';

const TYPE = 'type.googleapis.com/envoy.extensions.';

export function envoyBootstrap(config: TunnelConfig): { bootstrap: YamlMap; notes: string[]; carried: boolean } {
  const notes = commonNotes(config, 'envoy');
  // Through a proxy the endpoint is what CONNECT names: one target, as in the other formats.
  const endpoints = config.proxy ? config.targets.slice(0, 1) : config.targets;
  if (config.proxy && config.targets.length > 1) notes.push(`several targets through a proxy: only the first (${endpoints[0].host}:${endpoints[0].port}) is carried`);
  const id = slug(config.name);
  const stat = id.replace(/\./g, '_');
  const tls = upstreamTlsContext(config, endpoints, notes);

  const tcpProxy = {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': `${TYPE}filters.network.tcp_proxy.v3.TcpProxy`,
      stat_prefix: stat,
      cluster: id,
      // Envoy's default is one hour; 0s turns the idle timeout off, as idleTimeoutMs 0 does.
      idle_timeout: envoyDuration(config.idleTimeoutMs),
      max_downstream_connection_duration: config.maxConnectionLifetimeMs > 0 ? envoyDuration(config.maxConnectionLifetimeMs) : undefined,
      // A connection whose first host fails is tried on the next (ejected hosts are skipped).
      max_connect_attempts: endpoints.length > 1 ? endpoints.length : undefined,
    },
  };
  if (config.closeTimeoutMs > 0) notes.push('closeTimeoutMs: Envoy\'s tcp_proxy has no bound on a half-closed connection (no equivalent; idle_timeout still ends one that goes quiet)');
  const filters: YamlMap[] = [tcpProxy];
  let transportSocket: YamlMap = { name: 'envoy.transport_sockets.tls', typed_config: { '@type': `${TYPE}transport_sockets.tls.v3.UpstreamTlsContext`, ...tls } };
  let carried = true;
  if (config.protocol === 'postgres') {
    // postgres_proxy sends the SSLRequest and starts TLS on the starttls socket once the server says S.
    filters.unshift({
      name: 'envoy.filters.network.postgres_proxy',
      typed_config: { '@type': `${TYPE}filters.network.postgres_proxy.v3alpha.PostgresProxy`, stat_prefix: stat, upstream_ssl: 'REQUIRE' },
    });
    transportSocket = {
      name: 'envoy.transport_sockets.starttls',
      typed_config: { '@type': `${TYPE}transport_sockets.starttls.v3.UpstreamStartTlsConfig`, cleartext_socket_config: {}, tls_socket_config: tls },
    };
    notes.push('protocol postgres: uses Envoy\'s postgres_proxy filter with upstream_ssl: REQUIRE, a contrib extension (envoyproxy/envoy-contrib image); it does not answer psql\'s own SSLRequest, so clients need sslmode=disable');
  } else if (config.protocol === 'mysql') {
    carried = false;
    notes.push('protocol mysql: Envoy\'s mysql_proxy filter cannot start TLS towards the server (it has no upstream_ssl), and plain TLS from the first byte is not MySQL; the bootstrap below is commented out');
  }
  let endpointMetadata: YamlMap | undefined;
  if (config.proxy) {
    if (config.protocol === 'postgres') {
      carried = false;
      notes.push('proxy with protocol postgres: Envoy\'s HTTP CONNECT transport socket (http_11_proxy) wraps a TLS transport socket, and it does not document wrapping the starttls one postgres_proxy needs; the bootstrap below is commented out');
    }
    // http_11_proxy dials the proxy named in the endpoint's metadata, sends CONNECT for the
    // endpoint, and hands the tunnel to the TLS socket it wraps.
    transportSocket = {
      name: 'envoy.transport_sockets.http_11_proxy',
      typed_config: { '@type': `${TYPE}transport_sockets.http_11_proxy.v3.Http11ProxyUpstreamTransport`, transport_socket: transportSocket },
    };
    endpointMetadata = {
      typed_filter_metadata: {
        'envoy.http11_proxy_transport_socket.proxy_address': {
          '@type': 'type.googleapis.com/envoy.config.core.v3.Address',
          socket_address: { address: config.proxy.host, port_value: config.proxy.port },
        },
      },
    };
    notes.push('proxy: Envoy\'s http_11_proxy transport socket is documented as not yet production-hardened, and it resolves the target\'s name itself (the cluster\'s DNS), so the target must resolve where Envoy runs');
    if (config.proxy.auth) notes.push('proxy credentials: Envoy\'s http_11_proxy transport socket sends no Proxy-Authorization, so a proxy that wants credentials will refuse it (no equivalent)');
    if (!isIp(config.proxy.host)) notes.push(`proxy host ${config.proxy.host}: Envoy takes the proxy as an IP address; replace it with the proxy's address`);
  }

  const bootstrap: YamlMap = {
    static_resources: {
      listeners: [{
        name: id,
        // A unix socket is Envoy's `pipe`, owner-only like the tunnel's (mode 0600 = 384).
        address: isSocketPath(config.listen) ? { pipe: { path: config.listen.path, mode: 0o600 } } : { socket_address: { address: listenAddress(config, notes), port_value: config.listen.port } },
        filter_chains: [{ filters }],
      }],
      clusters: [{
        name: id,
        type: endpoints.every((e) => isIp(e.host)) ? 'STATIC' : 'STRICT_DNS',
        connect_timeout: envoyDuration(config.connectTimeoutMs),
        lb_policy: endpoints.length > 1 ? 'ROUND_ROBIN' : undefined,
        circuit_breakers: config.maxConnections > 0 ? { thresholds: [{ priority: 'DEFAULT', max_connections: config.maxConnections }] } : undefined,
        outlier_detection: endpoints.length > 1 ? outlierDetection(config, notes) : undefined,
        load_assignment: {
          cluster_name: id,
          endpoints: localities(config, endpoints, endpointMetadata),
        },
        transport_socket: transportSocket,
      }],
    },
  };
  if (config.maxConnections === 0) notes.push('maxConnections 0 (no limit): Envoy\'s default circuit breaker still allows at most 1024 upstream connections');
  return { bootstrap, notes, carried };
}

/**
 * The cluster's endpoints: one locality for one target or round-robin; for failover one priority
 * per target in order, so Envoy sends to the next only while the ones before it are ejected.
 */
function localities(config: TunnelConfig, endpoints: Endpoint[], metadata: YamlMap | undefined): YamlMap[] {
  const lb = (e: Endpoint) => ({ endpoint: { address: { socket_address: { address: e.host, port_value: e.port } } }, metadata });
  if (endpoints.length > 1 && config.targetPolicy === 'failover') return endpoints.map((e, priority) => ({ priority: priority === 0 ? undefined : priority, lb_endpoints: [lb(e)] }));
  return [{ lb_endpoints: endpoints.map(lb) }];
}

/**
 * Without health checks every host counts as healthy, so failover needs Envoy to eject a host
 * that fails: after one connect failure (TCP or TLS, a "local origin" error for tcp_proxy), for
 * 5 s growing with each ejection up to 60 s, as the tunnel's backoff.
 */
function outlierDetection(config: TunnelConfig, notes: string[]): YamlMap {
  notes.push(`several targets (${config.targetPolicy}): ${config.targetPolicy === 'failover' ? 'one priority level per target, in order' : 'one locality, ROUND_ROBIN'}, with outlier detection ejecting a target after one failed connection for 5 s growing to 60 s (Envoy grows it by the number of ejections, not by doubling)`);
  return {
    split_external_local_origin_errors: true,
    consecutive_local_origin_failure: 1,
    enforcing_consecutive_local_origin_failure: 100,
    base_ejection_time: '5s',
    max_ejection_time: '60s',
    max_ejection_percent: 100,
  };
}

/** The body of an UpstreamTlsContext (without `@type`), shared by the tls and starttls sockets. */
function upstreamTlsContext(config: TunnelConfig, endpoints: TunnelConfig['targets'], notes: string[]): YamlMap {
  const password = config.passphrase !== undefined ? { environment_variable: ENVOY_PASSPHRASE_ENV } : undefined;
  if (password) notes.push(`the passphrase is not written here: Envoy reads it from the ${ENVOY_PASSPHRASE_ENV} environment variable`);
  const certificate: YamlMap = config.pfx
    ? { pkcs12: { filename: config.pfx }, password }
    : { certificate_chain: { filename: config.cert ?? '' }, private_key: { filename: config.key ?? config.cert ?? '' }, password };
  if (!config.ca) notes.push(`no ca: Envoy verifies nothing without trusted_ca, so this uses the system bundle ${SYSTEM_CA_BUNDLE} where mtls-tunnels trusts Node's bundled roots`);
  for (const san of config.verify.subjectAltNames) {
    notes.push(`verify.subjectAltNames ${san}: Envoy accepts a certificate matching any one entry of match_typed_subject_alt_names, so adding it would let it stand in for the server name; mtls-tunnels requires both (not carried)`);
  }
  if (config.verify.spkiSha256.length > 0) {
    notes.push('verify.spkiSha256: carried as verify_certificate_spki, which Envoy checks against the server\'s own certificate only; mtls-tunnels also accepts a pin on a CA certificate in the chain it sends');
  }
  const names = [...new Set(endpoints.map((e) => e.serverName))];
  if (names.length > 1) {
    notes.push(`several targets with their own server names: one cluster has one SNI (${sniFor(names.find((n) => !isIp(n)) ?? '') ?? 'none'}) and accepts any of ${names.join(', ')} from every target; set "serverName" if the servers share a name, or export one tunnel per target`);
  }
  if (config.crl) notes.push('crl: Envoy reads the CRL file when the configuration loads; a changed file needs a restart (or an SDS secret with watched_directory)');
  if (config.resumption === 'reuse') notes.push('resumption reuse: Envoy has no setting to offer one session ticket on every connection; it keeps its own session handling (max_session_keys)');
  return {
    sni: sniFor(names.find((n) => !isIp(n)) ?? config.serverName),
    // resumption off: Envoy keeps no session to resume.
    max_session_keys: config.resumption === 'off' ? 0 : undefined,
    common_tls_context: {
      tls_params: { tls_minimum_protocol_version: config.minTlsVersion === 'TLSv1.3' ? 'TLSv1_3' : 'TLSv1_2' },
      alpn_protocols: config.alpn.length > 0 ? config.alpn : undefined,
      tls_certificates: [certificate],
      validation_context: {
        trusted_ca: { filename: config.ca ?? SYSTEM_CA_BUNDLE },
        // With a CRL Envoy checks every certificate of the chain (only_verify_leaf_cert_crl false), as the tunnel does.
        crl: config.crl ? { filename: config.crl } : undefined,
        match_typed_subject_alt_names: names.map((n) => ({ san_type: isIp(n) ? 'IP_ADDRESS' : 'DNS', matcher: { exact: n } })),
        verify_certificate_spki: config.verify.spkiSha256.length > 0 ? config.verify.spkiSha256 : undefined,
      },
    },
  };
}

export function envoyYaml(config: TunnelConfig): ExportResult {
  const { bootstrap, notes, carried } = envoyBootstrap(config);
  const body = toYaml(bootstrap).split('\n');
  const text = [...header('#', config, 'envoy', 'an Envoy static bootstrap (v3)', notes), '', ...(carried ? body : body.map((l) => `# ${l}`)), ''].join('\n');
  return { text, fileName: `${slug(config.name)}.envoy.yaml`, notes };
}

/** Envoy binds listeners to IP addresses only; `localhost` becomes 127.0.0.1. */
function listenAddress(config: TunnelConfig, notes: string[]): string {
  if (isSocketPath(config.listen)) return '';
  if (isIp(config.listen.host)) return config.listen.host;
  notes.push(`listen host ${config.listen.host}: Envoy listeners take an IP address, so this listens on 127.0.0.1`);
  return '127.0.0.1';
}

/** A protobuf JSON duration: `10s`, `1.5s`, `0s`. */
function envoyDuration(ms: number): string {
  return `${ms / 1000}s`;
}
