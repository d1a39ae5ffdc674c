// The answers of a multi-process gateway's workers merged into the one answer its monitoring port gives
// (cluster-monitor.ts asks them): counters summed, lists merged and paged across all workers, the gateway's identity
// (the primary's server id, its monitoring port, its start) kept, and what differs per worker (server_id, pid,
// uplink state, CPU, memory) listed under `workers`. A worker that did not answer is named there, never guessed.
//
// Connection ids need no translation: each worker hands out its own interleaved cid space (worker w of W: w, w + W,
// w + 2W...; EventGateway's GatewayWorkerRole), so a cid is unique across the gateway, in /connz, in ?cid=, in each
// client's INFO and in the logs alike, as nats-server's one cid space per server is.
import { rfc3339, uptime } from '@event-broker/shared';

/** One worker's answer to a query, or why there is none. */
export type WorkerAnswer<T> = { worker: number; pid: number; body: T } | { worker: number; error: string };

/** What the workers said: those that answered, and those that did not (with why). */
export interface WorkerAnswers<T> {
  answered: { worker: number; pid: number; body: T }[];
  missing: { worker: number; error: string }[];
}

export function splitAnswers<T>(all: WorkerAnswer<T>[]): WorkerAnswers<T> {
  const answered = [];
  const missing = [];
  for (const a of all) {
    if ('body' in a) answered.push(a);
    else missing.push(a);
  }
  return { answered, missing };
}

type Json = Record<string, unknown>;

/** The gateway's own identity and figures, from the primary. */
export interface PrimaryFacts {
  serverId: string;
  serverName: string;
  /** The whole gateway's max_connections (one budget, held by the primary: cluster-slots.ts). */
  maxConnections: number;
  startedAt: Date;
  configLoadedAt: Date;
  http: { host: string; port: number; reqStats: Readonly<Record<string, number>> };
  /** The primary's own CPU percent and resident memory, added to the workers'. */
  cpu: number;
  mem: number;
}

/** /varz fields that are running totals or figures of one process: summed over the workers. */
const VARZ_SUMMED = [
  'connections',
  'total_connections',
  'leafnodes',
  'in_msgs',
  'out_msgs',
  'in_bytes',
  'out_bytes',
  'slow_consumers',
  'subscriptions',
  'mem',
  'cpu',
] as const;

/**
 * /varz for the whole gateway: the first answering worker's settings (every worker runs the same configuration),
 * the counters summed, the gateway's identity (the primary's server_id, max_connections, monitoring port, start,
 * config_load_time), the primary's own CPU and memory added, and per worker what is its own (`workers`).
 */
export function mergeVarz(answers: WorkerAnswers<Json>, facts: PrimaryFacts): Json {
  const { answered, missing } = answers;
  const now = Date.now();
  const base: Json = { ...(answered[0]?.body ?? {}) };
  for (const key of VARZ_SUMMED) base[key] = sum(answered.map((a) => a.body[key]));
  base.cpu = round2((base.cpu as number) + facts.cpu);
  base.mem = (base.mem as number) + facts.mem;
  const extras = ['auth_failures', 'permission_violations', 'event_credit', 'listener_quota'] as const;
  for (const key of extras) {
    if (answered.length > 0) base[key] = sumDeep(answered.map((a) => a.body[key]));
  }
  if (answered.length > 0) {
    const ups = answered.map((a) => a.body.upstream as Json);
    const states = ups.map((u) => u.state);
    base.upstream = {
      ...(sumDeep(ups) as Json),
      urls: ups[0]!.urls,
      // `up` only when every worker's link is; the state of the first that is not, otherwise.
      state: states.find((s) => s !== 'up') ?? 'up',
      links_up: ups.filter((u) => u.up === true).length,
    };
  }
  return {
    ...base,
    server_id: facts.serverId,
    server_name: facts.serverName,
    max_connections: facts.maxConnections,
    http_host: facts.http.host,
    http_port: facts.http.port,
    http_req_stats: { ...facts.http.reqStats },
    start: rfc3339(facts.startedAt.getTime()),
    now: rfc3339(now),
    uptime: uptime(now - facts.startedAt.getTime()),
    config_load_time: rfc3339(facts.configLoadedAt.getTime()),
    workers: [
      ...answered.map(({ worker, pid, body: b }) => ({
        worker,
        pid,
        server_id: b.server_id,
        start: b.start,
        connections: b.connections,
        total_connections: b.total_connections,
        subscriptions: b.subscriptions,
        upstream: (b.upstream as Json | undefined)?.state,
        cpu: b.cpu,
        mem: b.mem,
      })),
      ...missing,
    ].sort((a, b) => a.worker - b.worker),
  };
}

/** Paging as the primary asked it of /connz or /subsz (each worker was asked for offset 0, limit offset + limit). */
export interface Page {
  offset: number;
  limit: number;
}

/**
 * /connz for the whole gateway: every worker's entries (each already sorted and cut at offset + limit) put in cid
 * order, then in the requested sort's (stable, so ties keep cid order, as one process's /connz does), then paged.
 */
export function mergeConnz(answers: WorkerAnswers<Json>, sortName: string, page: Page, serverId: string): Json {
  const now = Date.now();
  const conns = answers.answered.flatMap((a) => a.body.connections as Json[]);
  conns.sort((a, b) => num(a, 'cid') - num(b, 'cid'));
  const order = CONNZ_ORDER[sortName];
  if (order !== undefined) conns.sort((a, b) => order(a, b, now));
  const connections = conns.slice(page.offset, page.offset + page.limit);
  return {
    server_id: serverId,
    now: rfc3339(now),
    num_connections: connections.length,
    total: sum(answers.answered.map((a) => a.body.total)),
    offset: page.offset,
    limit: page.limit,
    connections,
  };
}

type Order = (a: Json, b: Json, now: number) => number;
const desc =
  (f: (c: Json, now: number) => number): Order =>
  (a, b, now) =>
    f(b, now) - f(a, now);
const time = (c: Json, key: string): number => (typeof c[key] === 'string' ? Date.parse(c[key]) : 0);
const end = (c: Json, now: number): number => (c.stop === undefined ? now : time(c, 'stop'));

/**
 * The sorts of shared/src/monitor/connz.ts (nats-server's monitor_sort_opts.go), read from the entries as /connz
 * writes them: times from their RFC 3339 text (milliseconds, all the entries carry), rtt from its Go duration text.
 */
const CONNZ_ORDER: Record<string, Order> = {
  cid: (a, b) => num(a, 'cid') - num(b, 'cid'),
  start: (a, b) => time(a, 'start') - time(b, 'start'),
  subs: desc((c) => num(c, 'subscriptions')),
  pending: desc((c) => num(c, 'pending_bytes')),
  msgs_to: desc((c) => num(c, 'out_msgs')),
  msgs_from: desc((c) => num(c, 'in_msgs')),
  bytes_to: desc((c) => num(c, 'out_bytes')),
  bytes_from: desc((c) => num(c, 'in_bytes')),
  last: desc((c) => time(c, 'last_activity')),
  idle: desc((c, now) => now - time(c, 'last_activity')),
  uptime: desc((c, now) => end(c, now) - time(c, 'start')),
  stop: desc((c) => time(c, 'stop')),
  reason: (a, b) => String(a.reason ?? '').localeCompare(String(b.reason ?? '')),
  rtt: desc((c) => goDurationMs(c.rtt)),
};

/** Go's time.Duration text as format.ts goDuration writes it (`0s`, `850µs`, `3.463ms`, `1.5s`), in ms. */
export function goDurationMs(text: unknown): number {
  const m = typeof text === 'string' ? /^([\d.]+)(ns|µs|us|ms|s)$/.exec(text) : null;
  if (m === null) return 0;
  const scale = { ns: 1e-6, µs: 1e-3, us: 1e-3, ms: 1, s: 1000 }[m[2] as 'ns' | 'µs' | 'us' | 'ms' | 's'];
  return Number(m[1]) * scale;
}

/** Sublist figures (shared SublistStats): counts summed, max_fanout the largest, the rates weighted. */
function mergeSublistStats(stats: Json[]): Json {
  const matches = sum(stats.map((s) => s.num_matches));
  const cache = sum(stats.map((s) => s.num_cache));
  const weighted = (key: string, weight: string, total: number) =>
    total > 0 ? stats.reduce((acc, s) => acc + num(s, key) * num(s, weight), 0) / total : 0;
  return {
    num_subscriptions: sum(stats.map((s) => s.num_subscriptions)),
    num_cache: cache,
    num_inserts: sum(stats.map((s) => s.num_inserts)),
    num_removes: sum(stats.map((s) => s.num_removes)),
    num_matches: matches,
    cache_hit_rate: weighted('cache_hit_rate', 'num_matches', matches),
    max_fanout: Math.max(0, ...stats.map((s) => num(s, 'max_fanout'))),
    avg_fanout: weighted('avg_fanout', 'num_cache', cache),
  };
}

/** /subsz: the figures merged; with `subs=1`, every worker's list in cid order, paged across the whole. */
export function mergeSubsz(answers: WorkerAnswers<Json>, page: Page | undefined, serverId: string): Json {
  const bodies = answers.answered.map((a) => a.body);
  const stats = mergeSublistStats(bodies);
  if (page === undefined) return stats;
  const list = bodies.flatMap((b) => (b.subscriptions_list as Json[] | undefined) ?? []);
  list.sort((a, b) => num(a, 'cid') - num(b, 'cid'));
  return {
    server_id: serverId,
    now: rfc3339(Date.now()),
    ...stats,
    total: sum(bodies.map((b) => b.total)),
    offset: page.offset,
    limit: page.limit,
    subscriptions_list: list.slice(page.offset, page.offset + page.limit),
  };
}

/** /leafz: every worker's uplink (each worker is a leaf with its own link to the service). */
export function mergeLeafz(answers: WorkerAnswers<Json>, serverId: string): Json {
  const leafs = answers.answered.flatMap((a) => a.body.leafs as Json[]);
  return { server_id: serverId, now: rfc3339(Date.now()), leafnodes: leafs.length, leafs };
}

/** /healthz: 200 only when every worker answered 200 (each its own round trip through its uplink). */
export function mergeHealth(answers: WorkerAnswers<{ httpStatus: number; body: Json }>): {
  httpStatus: 200 | 503;
  body: Json;
} {
  const problems = [
    ...answers.missing.map((m) => ({ worker: m.worker, error: m.error })),
    ...answers.answered
      .filter((a) => a.body.httpStatus !== 200)
      .map((a) => ({ worker: a.worker, error: String(a.body.body.error ?? a.body.body.status) })),
  ].sort((a, b) => a.worker - b.worker);
  const workers = [
    ...answers.answered.map(({ worker, pid, body }) => ({ worker, pid, ...body.body })),
    ...answers.missing.map(({ worker, error }) => ({ worker, status: 'unavailable', error })),
  ].sort((a, b) => a.worker - b.worker);
  if (problems.length > 0) {
    const error = problems.map((p) => `worker ${p.worker}: ${p.error}`).join('; ');
    return { httpStatus: 503, body: { status: 'unavailable', error, workers } };
  }
  return { httpStatus: 200, body: { status: 'ok', workers } };
}

function num(o: Json, key: string): number {
  const v = o[key];
  return typeof v === 'number' ? v : 0;
}

function sum(values: unknown[]): number {
  return values.reduce<number>((acc, v) => acc + (typeof v === 'number' ? v : 0), 0);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * Objects of the same shape merged field by field: numbers summed, booleans true only when true in every one,
 * nested objects merged alike, anything else the first one's.
 */
export function sumDeep(values: unknown[]): unknown {
  const first = values[0];
  if (typeof first === 'number') return sum(values);
  if (typeof first === 'boolean') return values.every((v) => v === true);
  if (first === null || typeof first !== 'object' || Array.isArray(first)) return first;
  const out: Json = {};
  for (const key of Object.keys(first)) out[key] = sumDeep(values.map((v) => (v as Json | undefined)?.[key]));
  return out;
}
