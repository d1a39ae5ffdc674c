// One load as both generators take it (native/loadgen.c and node-loadgen.ts, key=value arguments), and the limits
// both servers get. The scenarios (scenarios.ts) say which load; generators.ts starts a generator with genArgs.

export type GenMode = 'pub' | 'fanout' | 'reqrep' | 'requests' | 'conns' | 'subs' | 'admission';

/** One load, as both generators take it (key=value arguments). */
export interface GenSpec {
  mode: GenMode;
  size?: number;
  count?: number;
  warmup?: number;
  capMs?: number;
  subs?: number;
  queue?: boolean;
  conns?: number;
  /** `conns`: each connection subscribes to a subject of its own. */
  sub?: boolean;
  /** `subs`: distinct published subjects (each subscribed once per connection). */
  subjects?: number;
  /** `subs`: ready lines (RunHooks.onReady) once the connections are open and after the SUB storm (curves-*.ts). */
  ready?: boolean;
  /** `soak`: seconds of mixed load, then seconds idle (main.ts sets them from --soak-seconds). */
  soakSeconds?: number;
  idleSeconds?: number;
  /** `events`: requests kept in flight, and the sink's batch_size. */
  inflight?: number;
  batch?: number;
  /** `events`: the sink's max_in_flight (POSTs at once, out of order). */
  maxInFlight?: number;
  /**
   * `events`: the sink's receiver: node:http (default) or a grpc:// CloudEventService (grpc-receiver.ts); `none`:
   * no sink at all, the store alone (what the intake acknowledges when no delivery shares the cores).
   */
  sink?: 'http' | 'grpc' | 'none';
  /** `events-jetstream`: the stream's replicas and how many service instances share it. */
  replicas?: number;
  instances?: number;
  /** `requests` (native generator only): where they go, and the body (its `##########` replaced per request). */
  subject?: string;
  bodyFile?: string;
  /** `fanout` across two servers (gateway.ts sets these per run): the publisher's port, TLS files, token file. */
  pubPort?: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tokenFile?: string;
}

/** Limits given to both servers, so neither runs with a looser setting. */
export interface Limits {
  maxPayloadBytes: number;
  maxConnections: number;
  maxPendingBytes: number;
  writeDeadlineMs: number;
}

// nats-server 2.9.10 defaults (NATS-NOTES.md), written out for both servers.
export const DEFAULT_LIMITS: Limits = {
  maxPayloadBytes: 1024 * 1024,
  maxConnections: 65536,
  maxPendingBytes: 64 * 1024 * 1024,
  writeDeadlineMs: 10_000,
};

export function genArgs(spec: GenSpec, port: number): string[] {
  const out = [spec.mode, `port=${port}`];
  if (spec.size !== undefined) out.push(`size=${spec.size}`);
  if (spec.count !== undefined) out.push(`count=${spec.count}`);
  if (spec.warmup !== undefined) out.push(`warmup=${spec.warmup}`);
  if (spec.capMs !== undefined) out.push(`cap_ms=${spec.capMs}`);
  if (spec.subs !== undefined) out.push(`subs=${spec.subs}`);
  if (spec.queue !== undefined) out.push(`queue=${spec.queue ? 1 : 0}`);
  if (spec.conns !== undefined) out.push(`conns=${spec.conns}`);
  if (spec.sub !== undefined) out.push(`sub=${spec.sub ? 1 : 0}`);
  if (spec.subjects !== undefined) out.push(`subjects=${spec.subjects}`);
  if (spec.ready !== undefined) out.push(`ready=${spec.ready ? 1 : 0}`);
  if (spec.pubPort !== undefined) out.push(`pub_port=${spec.pubPort}`);
  if (spec.tlsCa !== undefined) out.push(`tls_ca=${spec.tlsCa}`);
  if (spec.tlsCert !== undefined) out.push(`tls_cert=${spec.tlsCert}`);
  if (spec.tlsKey !== undefined) out.push(`tls_key=${spec.tlsKey}`);
  if (spec.tokenFile !== undefined) out.push(`token_file=${spec.tokenFile}`);
  if (spec.subject !== undefined) out.push(`subject=${spec.subject}`);
  if (spec.bodyFile !== undefined) out.push(`body_file=${spec.bodyFile}`);
  if (spec.inflight !== undefined) out.push(`inflight=${spec.inflight}`);
  return out;
}
