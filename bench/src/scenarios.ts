// The end-to-end scenarios of `pnpm bench`: what load each applies, which limits both servers get, and which
// figures it yields. main.ts runs them; the generators (native/loadgen.c, node-loadgen.ts) apply them.
//
// Adding one: a new entry here; a new generator mode when the load is new (both generators, same CLI).

export type GenMode = 'pub' | 'fanout' | 'reqrep' | 'requests' | 'conns' | 'subs';

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
  /** `soak`: seconds of mixed load, then seconds idle (main.ts sets them from --soak-seconds). */
  soakSeconds?: number;
  idleSeconds?: number;
  /** `events`: requests kept in flight, and the sink's batch_size. */
  inflight?: number;
  batch?: number;
  /** `events`: the sink's max_in_flight (POSTs at once, out of order). */
  maxInFlight?: number;
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

/** What a generator (or the in-process child) prints last; fields depend on the mode. */
export interface GenResult {
  generator: string;
  mode: string;
  error?: string;
  window_ns: number;
  window_cpu_s: number;
  cpu_user_s: number;
  cpu_sys_s: number;
  async_errors?: number;
  disconnects?: number;
  sent?: number;
  received?: number;
  expected?: number;
  lost?: number;
  capped?: boolean;
  size?: number;
  subs?: number;
  requests?: number;
  timeouts?: number;
  p50_us?: number;
  p90_us?: number;
  p99_us?: number;
  p999_us?: number;
  max_us?: number;
  mean_us?: number;
  opened?: number;
  closed_by_server?: number;
  per_sub_min?: number;
  per_sub_max?: number;
  /** `fanout` from the generators: the publisher's client (raw, libnats, libnats-tls, raw-tls). */
  publisher?: string;
  /** gateway.ts: each server process's CPU seconds over the window (their sum is the cell's server CPU). */
  server_cpu_parts?: Record<string, number>;
  /** `conns` with sub=1, `subs`: subscriptions held at the end; `subs`: how many carry a wildcard. */
  subscriptions?: number;
  subjects?: number;
  wildcard_subscriptions?: number;
  /** `subs`: from the first SUB written to the PONG after the last, on every connection. */
  setup_ns?: number;
  // Added by main.ts for `conns`: the server's VmRSS with one client, then with all of them.
  rss_base_kib?: number;
  rss_full_kib?: number;
  // `events` (events.ts): requests answered with an error, backlog when intake ended, delivery and drain windows.
  refused?: number;
  /** `requests`: replies that acknowledged (the rest of those answered were refused). */
  acked?: number;
  warmup_acked?: number;
  backlog_at_end?: number;
  delivery_ns?: number;
  drain_ns?: number;
  batch?: number;
  /** POSTs whose body was a JSON array (0 with batch > 1: the service did not apply batch_size). */
  batch_posts?: number;
  // `soak` (soak.ts): heapUsed after a forced GC (bytes; ours only) and VmRSS (KiB): fresh (cold), after one
  // warm-up round (before), the largest sample during the load, and after the idle period; the steps run.
  heap_cold?: number;
  heap_before?: number;
  heap_during_max?: number;
  heap_after?: number;
  /** heapUsed after minus the warm start, per V8 space, in bytes (code_space: compiled code; old_space: live objects). */
  heap_space_growth?: Record<string, number>;
  /** Bytecode + machine code (v8.getHeapCodeStatistics) in the cold and the final heap: warm-up, not leaks. */
  compiled_cold?: number;
  compiled_after?: number;
  rss_cold_kib?: number;
  rss_before_kib?: number;
  rss_during_max_kib?: number;
  rss_after_kib?: number;
  samples?: number;
  steps?: number;
  step_names?: string[];
  load_s?: number;
  idle_s?: number;
}

export interface Metric {
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** How a value prints (the unit is a column of its own). */
  format: (v: number) => string;
  value: (r: GenResult) => number;
  /** A figure only this server has (a JS heap): the other column shows —. Never the first metric. */
  only?: 'ours' | 'nats-server';
}

export interface Scenario {
  /** The --scenario key. */
  name: string;
  /**
   * Generator scenarios drive a server over loopback; `inproc` runs our embedded API in a child process; `events`
   * drives our durable event intake and a sink (events.ts), ours only: nats-server has no equivalent; `soak`
   * cycles through the other generator loads for a while, then idles, sampling heap and RSS (soak.ts); `gateway`
   * publishes over TLS into one server and subscribes on another behind it (gateway.ts: ours, event-gateway →
   * event service; nats-server, leaf → hub).
   */
  kind: 'generator' | 'inproc' | 'events' | 'soak' | 'gateway';
  spec: (quick: boolean) => GenSpec;
  metrics: Metric[];
  /** Whether a result is acceptable (a lost message in 1→1 is a failure, not a slow figure). */
  check?: (r: GenResult) => string | undefined;
  /** Notes worth printing under the table (losses where nats semantics allow none, capped runs). */
  notes?: (r: GenResult) => string[];
  limits?: Partial<Limits>;
  /** Options only our service has (e.g. `listener_limit`), merged into its [service] section. */
  ours?: Record<string, unknown>;
  /** For `inproc`: the scenario whose nats-server figure it is compared with. */
  comparedWith?: string;
  /** Not run by default; `--scenario <name>` or `--all` runs it. */
  optIn?: boolean;
}

const M = 1e6;

export function fmtRate(v: number): string {
  if (v >= M) return `${(v / M).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

const fmtFixed = (digits: number) => (v: number) => v.toFixed(digits);

const seconds = (r: GenResult) => r.window_ns / 1e9;

const received: Metric['value'] = (r) => (r.received ?? 0) / seconds(r);
const sentRate: Metric['value'] = (r) => (r.sent ?? 0) / seconds(r);

const rssPerConn: Metric['value'] = (r) => ((r.rss_full_kib ?? NaN) - (r.rss_base_kib ?? NaN)) / (r.opened ?? NaN);
const idleCheck: Scenario['check'] = (r) =>
  (r.closed_by_server ?? 0) > 0 ? `server closed ${r.closed_by_server} idle connection(s)` : undefined;

function latency(which: string, pick: (r: GenResult) => number | undefined): Metric {
  const value = (r: GenResult) => pick(r) ?? NaN;
  return { label: `request/reply (sequential) ${which}`, unit: 'µs', better: 'lower', format: fmtFixed(0), value };
}

const noLoss: Scenario['check'] = (r) => ((r.lost ?? 0) > 0 ? `lost ${r.lost} of ${r.expected} messages` : undefined);

function lossNotes(r: GenResult): string[] {
  const out: string[] = [];
  if ((r.lost ?? 0) > 0) out.push(`lost ${r.lost} of ${r.expected}`);
  if (r.capped) out.push(`time cap hit: ${r.sent} of the planned messages sent`);
  if ((r.disconnects ?? 0) > 0) out.push(`${r.disconnects} connection(s) dropped by the server`);
  if ((r.async_errors ?? 0) > 0) out.push(`${r.async_errors} async client error(s) (slow consumer?)`);
  return out;
}

// Counts: the nats-server run of each takes ~1-2 s here; caps bound a slower server to ~5 s of load plus a
// bounded drain, which keeps a full run with both servers under ~3 minutes on 2 cores.
// The gateway path on the 2-core machine (2026-11-30): ours 0.6-0.9 M/s idle, 0.35-0.5 M/s while other work ran;
// nats-server's leaf → hub 1.1-1.5 M/s (0.5-0.8 M/s). 1.5 M keeps ours within the 5 s cap even then, and the
// whole scenario (both sides, PKI and four processes started) at ~8 s idle, under 20 s busy: a default scenario.
const GATEWAY_COUNT = 1_500_000;

const q = (quick: boolean, full: number) => (quick ? Math.max(1, Math.round(full / 5)) : full);

/** A load of `count` messages of `size` bytes after a warm-up of a tenth as many, capped at 5 s (quick: 2 s). */
function load(quick: boolean, mode: GenMode, size: number, count: number, extra: Partial<GenSpec> = {}): GenSpec {
  return { mode, size, count: q(quick, count), warmup: q(quick, count / 10), capMs: quick ? 2000 : 5000, ...extra };
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'pub',
    kind: 'generator',
    spec: (quick) => load(quick, 'pub', 16, 10_000_000),
    metrics: [{ label: 'publish-only 16 B', unit: 'msgs/s', better: 'higher', format: fmtRate, value: sentRate }],
    notes: lossNotes,
  },
  {
    name: 'pubsub',
    kind: 'generator',
    spec: (quick) => load(quick, 'fanout', 16, 5_000_000, { subs: 1 }),
    metrics: [{ label: '1→1 16 B, received', unit: 'msgs/s', better: 'higher', format: fmtRate, value: received }],
    check: noLoss,
    notes: lossNotes,
  },
  {
    name: 'fanout',
    kind: 'generator',
    spec: (quick) => load(quick, 'fanout', 128, 1_500_000, { subs: 4 }),
    metrics: [
      { label: '1→4 fan-out 128 B, delivered', unit: 'msgs/s', better: 'higher', format: fmtRate, value: received },
    ],
    notes: lossNotes,
  },
  {
    name: 'queue',
    kind: 'generator',
    spec: (quick) => load(quick, 'fanout', 128, 3_000_000, { subs: 4, queue: true }),
    metrics: [{ label: 'queue group of 4, 128 B', unit: 'msgs/s', better: 'higher', format: fmtRate, value: received }],
    notes: (r) => [
      ...lossNotes(r),
      ...(r.per_sub_min !== undefined && r.per_sub_min === 0 ? ['a queue member got nothing'] : []),
    ],
  },
  {
    name: 'reqrep',
    kind: 'generator',
    spec: (quick) => load(quick, 'reqrep', 16, 20_000),
    metrics: [latency('p50', (r) => r.p50_us), latency('p99', (r) => r.p99_us)],
    check: (r) => ((r.timeouts ?? 0) > 0 ? `${r.timeouts} request(s) timed out` : undefined),
    notes: (r) => (r.capped ? [`time cap hit: ${r.requests} requests`] : []),
  },
  {
    name: 'payload-64k',
    kind: 'generator',
    spec: (quick) => load(quick, 'fanout', 65536, 10_000, { subs: 1 }),
    metrics: [
      {
        label: '1→1 64 KiB payloads',
        unit: 'MB/s',
        better: 'higher',
        format: fmtFixed(0),
        value: (r) => ((r.received ?? 0) * (r.size ?? 0)) / 1e6 / seconds(r),
      },
    ],
    check: noLoss,
    notes: lossNotes,
  },
  {
    name: 'conns',
    kind: 'generator',
    spec: (quick) => ({ mode: 'conns', conns: 1000, capMs: quick ? 10_000 : 20_000 }),
    metrics: [
      {
        label: '1,000 idle connections, server RSS',
        unit: 'KiB/conn',
        better: 'lower',
        format: fmtFixed(1),
        value: rssPerConn,
      },
    ],
    check: idleCheck,
    notes: (r) => [`RSS ${mib(r.rss_base_kib)} → ${mib(r.rss_full_kib)} MiB`],
  },
  {
    name: 'inproc',
    kind: 'inproc',
    comparedWith: 'pubsub',
    // 20 M: at ~15-20 M/s on the 2-core machine (2026-11-30) 5 M gave a window of 0.2-0.3 s, too short to trust.
    spec: (quick) => load(quick, 'fanout', 16, 20_000_000, { subs: 1 }),
    metrics: [
      {
        label: '1→1 16 B in-process (nats-server: loopback)',
        unit: 'msgs/s',
        better: 'higher',
        format: fmtRate,
        value: received,
      },
    ],
    check: noLoss,
    notes: lossNotes,
  },
  eventsScenario('events', 1),
  eventsScenario('events-batch', 100),
  eventsScenario('events-parallel', 1, 8),
  {
    name: 'subs-100k',
    kind: 'generator',
    // 10 connections × 10,000 subjects = 100,000 SUBs, 30% with a wildcard; publishes cycle through the subjects
    // (native/loadgen.c run_subs says why that shape). Counts: nats-server takes ~2 s here.
    spec: (quick) => load(quick, 'subs', 16, 150_000, { subs: 10, subjects: 10_000, warmup: q(quick, 20_000) }),
    metrics: [
      {
        label: '100,000 subs over 10,000 subjects (30% wildcard), published + delivered',
        unit: 'msgs/s',
        better: 'higher',
        format: fmtRate,
        value: (r) => ((r.sent ?? 0) + (r.received ?? 0)) / seconds(r),
      },
      {
        label: '100,000 SUBs registered (10 conns, SUB storm → PONG)',
        unit: 'ms',
        better: 'lower',
        format: fmtFixed(0),
        value: (r) => (r.setup_ns ?? NaN) / 1e6,
      },
    ],
    check: noLoss,
    notes: lossNotes,
    // listener_limit (default 10,000) bounds subscriptions service-wide; nats-server has no such limit.
    ours: { listener_limit: 200_000 },
  },
  {
    name: 'gateway',
    kind: 'gateway',
    // Publisher with a client certificate and a token over TLS into the gateway (nats-server: a leaf), a TLS
    // leafnode link, the subscriber on the service's (hub's) plain port. 16 B, as the 1→1 row.
    spec: (quick) => load(quick, 'fanout', 16, GATEWAY_COUNT, { subs: 1 }),
    metrics: [
      {
        label: '1→1 16 B via TLS gateway → service (nats-server: TLS leaf → hub)',
        unit: 'msgs/s',
        better: 'higher',
        format: fmtRate,
        value: received,
      },
    ],
    check: noLoss,
    notes: (r) => [
      ...lossNotes(r),
      `publisher ${r.publisher ?? '?'} over TLS, subscriber ${r.generator === 'c-libnats' ? 'libnats' : 'raw'}; ` +
        'server CPU = ' +
        Object.entries(r.server_cpu_parts ?? {})
          .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
          .join(' + '),
    ],
  },
  {
    name: 'idle-10k',
    kind: 'generator',
    optIn: true,
    // One SUB each (bench.idle.<i>): a connection without interest is not what a fleet of idle clients looks like.
    // Needs ulimit -n above 10,064 for the generator and each server (the generator says so when it is not).
    spec: () => ({ mode: 'conns', conns: 10_000, sub: true, capMs: 60_000 }),
    ours: { listener_limit: 20_000 },
    metrics: [
      {
        label: '10,000 idle connections, 1 SUB each, server RSS',
        unit: 'KiB/conn',
        better: 'lower',
        format: fmtFixed(1),
        value: rssPerConn,
      },
    ],
    check: idleCheck,
    notes: (r) => [
      `RSS ${mib(r.rss_base_kib)} → ${mib(r.rss_full_kib)} MiB, ${r.subscriptions ?? 0} subscriptions`,
      ...(r.capped ? ['time cap hit'] : []),
    ],
  },
  {
    name: 'soak',
    kind: 'soak',
    optIn: true,
    // Seconds come from --soak-seconds (default 60; 15 with --quick), idle 10 s (3 s with --quick).
    spec: (quick) => ({ mode: 'pub', soakSeconds: quick ? 15 : 60, idleSeconds: quick ? 3 : 10 }),
    ours: { listener_limit: 200_000 },
    metrics: [
      {
        label: 'soak: server RSS after the idle period',
        unit: 'MiB',
        better: 'lower',
        format: fmtFixed(1),
        value: (r) => (r.rss_after_kib ?? NaN) / 1024,
      },
      {
        label: 'soak: heapUsed after idle, % of warm start (forced GC)',
        unit: '%',
        better: 'lower',
        format: fmtFixed(0),
        value: (r) => ((r.heap_after ?? NaN) / (r.heap_before ?? NaN)) * 100,
        only: 'ours',
      },
      {
        label: 'soak: heapUsed after idle, % of cold start (fresh process)',
        unit: '%',
        better: 'lower',
        format: fmtFixed(0),
        value: (r) => ((r.heap_after ?? NaN) / (r.heap_cold ?? NaN)) * 100,
        only: 'ours',
      },
    ],
    // Issue 7: after the load and an idle period the heap is back within 10% of where it started.
    check: (r) =>
      r.heap_after !== undefined && r.heap_before !== undefined && r.heap_after > r.heap_before * 1.1
        ? `heapUsed ${mib(r.heap_after / 1024)} MiB after idle, over 110% of ${mib(r.heap_before / 1024)} MiB at the warm start`
        : undefined,
    notes: (r) => [
      ...(r.heap_before !== undefined
        ? [
            `heapUsed ${mib((r.heap_cold ?? NaN) / 1024)} MiB cold, ${mib(r.heap_before / 1024)} MiB warm → ` +
              `${mib((r.heap_during_max ?? NaN) / 1024)} MiB ` +
              `at most during → ${mib((r.heap_after ?? NaN) / 1024)} MiB after ${r.idle_s ?? '?'} s idle (forced GC each); ` +
              `growth by space: ${Object.entries(r.heap_space_growth ?? {})
                .map(([k, v]) => `${k} ${v >= 0 ? '+' : ''}${(v / 1024).toFixed(0)} KiB`)
                .join(', ')}; since the cold start ${kib((r.heap_after ?? NaN) - (r.heap_cold ?? NaN))}, of which ` +
              `compiled bytecode and code ${kib((r.compiled_after ?? NaN) - (r.compiled_cold ?? NaN))}`,
          ]
        : []),
      `RSS ${mib(r.rss_cold_kib)} cold, ${mib(r.rss_before_kib)} warm → ${mib(r.rss_during_max_kib)} at most → ` +
        `${mib(r.rss_after_kib)} MiB; ` +
        `${r.steps ?? 0} load steps in ${(r.load_s ?? 0).toFixed(0)} s (${(r.step_names ?? []).join(', ')}), ` +
        `${fmtRate((r.sent ?? 0) + (r.received ?? 0))} msgs, ${r.samples ?? 0} samples`,
      ...lossNotes(r),
    ],
  },
];

/** Signed KiB from bytes. */
function kib(bytes: number): string {
  return `${bytes >= 0 ? '+' : ''}${(bytes / 1024).toFixed(0)} KiB`;
}

function mib(kib: number | undefined): string {
  return kib === undefined ? '?' : (kib / 1024).toFixed(1);
}

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

// `events` (events.ts): our durable intake and one HTTP sink taking `batch` events per POST; ours only.
function eventsScenario(name: string, batch: number, maxInFlight = 1): Scenario {
  const sink =
    batch > 1 ? `batch_size ${batch}` : maxInFlight > 1 ? `1 per POST, ${maxInFlight} at once` : '1 per POST';
  return {
    name,
    kind: 'events',
    spec: (quick) => ({
      mode: 'requests',
      size: 1024,
      count: q(quick, 200_000),
      warmup: q(quick, 5_000),
      inflight: 512,
      batch,
      maxInFlight,
      capMs: quick ? 2000 : 5000,
    }),
    metrics: [
      {
        label: `events acked (stored, fsynced) 1 KiB, ours only (sink: ${sink})`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: sentRate,
      },
      {
        label: `events delivered to a node:http sink (${sink})`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: (r) => (r.received ?? 0) / ((r.delivery_ns ?? NaN) / 1e9),
      },
    ],
    // Undelivered after the drain bound is slowness, not loss (the events stay pending in the store): a note.
    check: (r) => ((r.timeouts ?? 0) > 0 ? `${r.timeouts} request(s) unanswered` : undefined),
    notes: (r) => [
      'nats-server has no durable event intake or HTTP sink: no figure, no ratio',
      ...((r.lost ?? 0) > 0
        ? [`${r.lost} of ${r.expected} acknowledged events still pending after the 30 s drain bound`]
        : []),
      backlogNote(r),
      ...((r.refused ?? 0) > 0 ? [`${r.refused} request(s) refused`] : []),
      ...(r.capped ? [`time cap hit: ${r.requests} requests`] : []),
      ...(batch > 1 && r.batch_posts === 0
        ? [`batch_size ${batch} not applied by the service: every POST carried one event`]
        : []),
    ],
  };
}

// How far delivery was behind when the intake ended, in events and in time at the intake's rate.
function backlogNote(r: GenResult): string {
  const backlog = r.backlog_at_end ?? 0;
  const ms = r.sent ? (backlog / (r.sent / (r.window_ns / 1e9))) * 1000 : NaN;
  return `backlog when intake ended: ${backlog} of ${r.sent ?? '?'} (${ms.toFixed(0)} ms of intake), drained ${((r.drain_ns ?? 0) / 1e9).toFixed(2)} s later`;
}
