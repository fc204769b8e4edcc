/**
 * The tunnel as a static Envoy v3 bootstrap: one listener running tcp_proxy into one cluster whose
 * upstream transport socket is TLS with the client certificate. Envoy verifies the server name
 * only through `match_typed_subject_alt_names`, and verifies nothing without `trusted_ca`, so both
 * are always written.
 */
import { TunnelConfig, isSocketPath } from '../config/model';
import { sniFor } from '../tls/identity';
import { ExportResult, SYSTEM_CA_BUNDLE, commonNotes, header, isIp, slug } from './shared';
import { YamlMap, toYaml } from './yaml';

/** Where the Envoy config reads the key or PKCS#12 passphrase from; the passphrase itself is never written. */
export const ENVOY_PASSPHRASE_ENV = 'MTLS_TUNNEL_PASSPHRASE';

const TYPE = 'type.googleapis.com/envoy.extensions.';

export function envoyBootstrap(config: TunnelConfig): { bootstrap: YamlMap; notes: string[]; carried: boolean } {
  const notes = commonNotes(config, 'envoy');
  const id = slug(config.name);
  const stat = id.replace(/\./g, '_');
  const tls = upstreamTlsContext(config, notes);

  const tcpProxy = {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': `${TYPE}filters.network.tcp_proxy.v3.TcpProxy`,
      stat_prefix: stat,
      cluster: id,
      // Envoy's default is one hour; 0s turns the idle timeout off, as idleTimeoutMs 0 does.
      idle_timeout: envoyDuration(config.idleTimeoutMs),
    },
  };
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
        type: isIp(config.target.host) ? 'STATIC' : 'STRICT_DNS',
        connect_timeout: envoyDuration(config.connectTimeoutMs),
        circuit_breakers: config.maxConnections > 0 ? { thresholds: [{ priority: 'DEFAULT', max_connections: config.maxConnections }] } : undefined,
        load_assignment: {
          cluster_name: id,
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: config.target.host, port_value: config.target.port } } }, metadata: endpointMetadata }] }],
        },
        transport_socket: transportSocket,
      }],
    },
  };
  if (config.maxConnections === 0) notes.push('maxConnections 0 (no limit): Envoy\'s default circuit breaker still allows at most 1024 upstream connections');
  return { bootstrap, notes, carried };
}

/** The body of an UpstreamTlsContext (without `@type`), shared by the tls and starttls sockets. */
function upstreamTlsContext(config: TunnelConfig, notes: string[]): YamlMap {
  const password = config.passphrase !== undefined ? { environment_variable: ENVOY_PASSPHRASE_ENV } : undefined;
  if (password) notes.push(`the passphrase is not written here: Envoy reads it from the ${ENVOY_PASSPHRASE_ENV} environment variable`);
  const certificate: YamlMap = config.pfx
    ? { pkcs12: { filename: config.pfx }, password }
    : { certificate_chain: { filename: config.cert ?? '' }, private_key: { filename: config.key ?? '' }, password };
  if (!config.ca) notes.push(`no ca: Envoy verifies nothing without trusted_ca, so this uses the system bundle ${SYSTEM_CA_BUNDLE} where mtls-tunnels trusts Node's bundled roots`);
  for (const san of config.verify.subjectAltNames) {
    notes.push(`verify.subjectAltNames ${san}: Envoy accepts a certificate matching any one entry of match_typed_subject_alt_names, so adding it would let it stand in for the server name; mtls-tunnels requires both (not carried)`);
  }
  if (config.verify.spkiSha256.length > 0) {
    notes.push('verify.spkiSha256: carried as verify_certificate_spki, which Envoy checks against the server\'s own certificate only; mtls-tunnels also accepts a pin on a CA certificate in the chain it sends');
  }
  return {
    sni: sniFor(config.serverName),
    common_tls_context: {
      tls_params: { tls_minimum_protocol_version: config.minTlsVersion === 'TLSv1.3' ? 'TLSv1_3' : 'TLSv1_2' },
      alpn_protocols: config.alpn.length > 0 ? config.alpn : undefined,
      tls_certificates: [certificate],
      validation_context: {
        trusted_ca: { filename: config.ca ?? SYSTEM_CA_BUNDLE },
        match_typed_subject_alt_names: [{ san_type: isIp(config.serverName) ? 'IP_ADDRESS' : 'DNS', matcher: { exact: config.serverName } }],
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
