// The monitoring port of a multi-process gateway (`[gateway] workers` > 1, cluster.ts): the primary serves it, so it
// answers for the whole gateway, not for one worker. For each request the primary asks every worker, over the
// cluster IPC channel, for its own answer to the same query (GatewayMonitorViews, as a single gateway's port
// answers), waits a bounded time, and merges them (monitor-merge.ts). A worker that is not running or does not answer
// in time is named in the answer, and /healthz is 503 until every worker is up and linked again.
//
// Bounds: the port is [monitor]'s, with its max_connections, allowed_hosts and allowed_origins and MonitorHttp's
// request timeouts; each HTTP request makes one query per worker, so at most (max_connections + 16) x workers
// queries are in flight, each bounded in time. A worker's reply is bounded by what it holds (its clients, its
// 10,000 closed connections at most, its one uplink): /connz and /subsz ask each worker for offset 0 and limit
// offset + limit, never more than it has. /metrics sums the workers' series with prom-client's own cluster
// aggregation (AggregatorRegistry.aggregate, each series by its aggregator, sum by default) over the same channel.
import type { Worker } from 'node:cluster';
import {
  CONNZ_DEFAULT_LIMIT,
  CpuSampler,
  MonitorHttp,
  MonitorRequestError,
  healthz,
  jsonResponse,
  queryBool,
  queryInt,
  queryPage,
  textResponse,
  type Logger,
  type MonitorHandler,
  type ServerState,
} from '@event-broker/shared';
import type { GatewayConfig, MonitorSection } from './config-types.js';
import { P } from './monitor-metrics.js';
import {
  mergeConnz,
  mergeHealth,
  mergeLeafz,
  mergeSubsz,
  mergeVarz,
  splitAnswers,
  type Page,
  type WorkerAnswer,
} from './monitor-merge.js';
import { indexRoute, monitorHttpOptions, type GatewayMonitorViews } from './monitor.js';

/** How long the primary waits for a worker's answer (for /healthz, on top of the worker's own round trip). */
export const WORKER_ANSWER_MS = 2000;
/** The worker's own /healthz round trip bound (monitor.ts HEALTH_TIMEOUT_MS). */
const HEALTH_CHECK_MS = 2000;

export type MonitorEndpoint = 'varz' | 'connz' | 'subsz' | 'leafz' | 'healthz' | 'metrics';

/** Primary → worker: answer this query as your own monitoring port would. */
export interface MonitorQuery {
  type: 'monitor';
  req: number;
  endpoint: MonitorEndpoint;
  query: string;
}

/** Worker → primary: the answer, or the error (400: a bad parameter, with nats-server's text). */
export type MonitorReply =
  | { type: 'monitor-reply'; req: number; body: unknown }
  | { type: 'monitor-reply'; req: number; status: number; error: string };

/** Worker side: its answer to one query, from its own views. */
export async function answerMonitorQuery(
  views: GatewayMonitorViews | undefined,
  msg: MonitorQuery,
  logger?: Logger,
): Promise<MonitorReply> {
  const req = msg.req;
  if (views === undefined) return { type: 'monitor-reply', req, status: 503, error: 'not started' };
  const q = new URLSearchParams(msg.query);
  try {
    const body = await answer(views, msg.endpoint, q);
    return { type: 'monitor-reply', req, body };
  } catch (err) {
    if (err instanceof MonitorRequestError) return { type: 'monitor-reply', req, status: 400, error: err.message };
    // Logged here; the primary's answer says only that this worker failed (no internals on the monitoring port).
    logger?.error({ err: (err as Error).message, endpoint: msg.endpoint }, 'monitoring query failed');
    return { type: 'monitor-reply', req, status: 500, error: 'failed to answer (see its log)' };
  }
}

function answer(views: GatewayMonitorViews, endpoint: MonitorEndpoint, q: URLSearchParams): unknown {
  switch (endpoint) {
    case 'varz':
      // The monitoring port's own figures are the primary's: it puts them in.
      return views.varz({ host: '', port: 0, reqStats: {} });
    case 'connz':
      return views.connz(q);
    case 'subsz':
      return views.subsz(q);
    case 'leafz':
      return views.leafz(q);
    case 'healthz':
      return views.health();
    case 'metrics':
      return views.metrics.registry.getMetricsAsJSON();
  }
}

/** A worker's answer, or its refusal of a bad parameter (nats-server's text). */
type Asked<T> = WorkerAnswer<T> | { worker: number; badRequest: string };

/** Primary side: sends queries to the live workers and matches their replies. */
export class WorkerQueries {
  private next = 0;
  private readonly pending = new Map<number, { worker: number; done: (reply: MonitorReply | undefined) => void }>();

  constructor(
    /** The live workers by id (1-based), and how many there should be. */
    private readonly workers: () => ReadonlyMap<number, Worker>,
    private readonly count: () => number,
  ) {}

  /** A worker's reply (cluster.ts routes its 'monitor-reply' messages here); a late one is dropped. */
  replied(msg: MonitorReply): void {
    const p = this.pending.get(msg.req);
    if (p === undefined) return;
    this.pending.delete(msg.req);
    p.done(msg);
  }

  /** Worker `id` exited: its queries are answered "exited" now rather than at their timeout. */
  exited(id: number): void {
    for (const [req, p] of this.pending) {
      if (p.worker !== id) continue;
      this.pending.delete(req);
      p.done(undefined);
    }
  }

  /**
   * Every worker's answer to `endpoint` with `query`, each within `timeoutMs`; a worker not running or silent is
   * reported as such. A bad parameter (400 from a worker) is thrown as nats-server's error, as one process's is.
   */
  async ask<T>(endpoint: MonitorEndpoint, query: URLSearchParams, timeoutMs = WORKER_ANSWER_MS) {
    const live = this.workers();
    const asked: Promise<Asked<T>>[] = [];
    for (let id = 1; id <= this.count(); id++) {
      const w = live.get(id);
      if (w === undefined || !w.isConnected()) {
        asked.push(Promise.resolve({ worker: id, error: 'not running (being replaced)' }));
        continue;
      }
      asked.push(this.askOne<T>(id, w, endpoint, query.toString(), timeoutMs));
    }
    const all = await Promise.all(asked);
    const bad = all.find((a) => 'badRequest' in a);
    if (bad !== undefined) throw new MonitorRequestError(bad.badRequest);
    return splitAnswers(all.filter((a): a is WorkerAnswer<T> => !('badRequest' in a)));
  }

  private askOne<T>(
    id: number,
    w: Worker,
    endpoint: MonitorEndpoint,
    query: string,
    timeoutMs: number,
  ): Promise<Asked<T>> {
    const req = ++this.next;
    const pid = w.process.pid ?? 0;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        resolve({ worker: id, error: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(req, {
        worker: id,
        done: (reply) => {
          clearTimeout(timer);
          this.pending.delete(req);
          if (reply === undefined) resolve({ worker: id, error: 'exited' });
          else if ('body' in reply) resolve({ worker: id, pid, body: reply.body as T });
          else if (reply.status === 400) resolve({ worker: id, badRequest: reply.error });
          else resolve({ worker: id, error: reply.error });
        },
      });
      // With a callback, a channel that closed meanwhile is an answer ("exited"), not an 'error' event.
      w.send({ type: 'monitor', req, endpoint, query } satisfies MonitorQuery, (err) => {
        if (err !== null) this.pending.get(req)?.done(undefined);
      });
    });
  }

  /** Every query still waiting is answered "exited" (the primary is stopping). */
  close(): void {
    for (const p of this.pending.values()) p.done(undefined);
    this.pending.clear();
  }
}

/** What the primary's monitoring port reads from the primary. */
export interface PrimaryMonitorSource {
  readonly serverId: string;
  readonly config: GatewayConfig;
  readonly startedAt: Date;
  readonly configLoadedAt: Date;
  readonly state: ServerState;
  readonly queries: WorkerQueries;
}

type Json = Record<string, unknown>;

/** The monitoring port a primary serves: nats-server's endpoints, each the merge of every worker's answer. */
export class PrimaryMonitor {
  private readonly http: MonitorHttp;
  private readonly cpu = new CpuSampler();

  constructor(
    private readonly primary: PrimaryMonitorSource,
    private readonly section: MonitorSection,
    logger: Logger,
  ) {
    const json =
      (f: (q: URLSearchParams) => Promise<unknown>): MonitorHandler =>
      async ({ query }) =>
        jsonResponse(200, await f(query));
    const subsz = json((q) => this.subsz(q));
    this.http = new MonitorHttp({
      ...monitorHttpOptions(section, logger),
      routes: {
        '/': indexRoute,
        '/varz': json(() => this.varz()),
        '/connz': json((q) => this.connz(q)),
        '/subsz': subsz,
        '/subscriptionsz': subsz,
        '/leafz': json((q) => this.leafz(q)),
        '/healthz': async () => {
          const h = await this.health();
          return textResponse(h.httpStatus, 'application/json', JSON.stringify(h.body));
        },
        '/metrics': async () => {
          const m = await this.metrics();
          return textResponse(200, m.contentType, m.text);
        },
      },
    });
  }

  get port(): number {
    return this.http.port;
  }

  listen(): Promise<void> {
    return this.http.listen();
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private get serverId(): string {
    return this.primary.serverId;
  }

  private async varz(): Promise<Json> {
    const p = this.primary;
    const answers = await p.queries.ask<Json>('varz', new URLSearchParams());
    return mergeVarz(answers, {
      serverId: p.serverId,
      serverName: p.config.gateway.server_name ?? p.serverId,
      maxConnections: p.config.gateway.max_connections,
      startedAt: p.startedAt,
      configLoadedAt: p.configLoadedAt,
      http: { host: this.section.host, port: this.http.port, reqStats: this.http.reqStats },
      cpu: this.cpu.sample(),
      mem: process.memoryUsage.rss(),
    });
  }

  /** Each worker sorts and cuts its own list at offset + limit; the primary merges, sorts again and pages. */
  private async connz(q: URLSearchParams): Promise<Json> {
    const sort = q.get('sort') || 'cid';
    const page = pageOf(q);
    // A single connection asked for by id: paging does not apply (nats-server monitor.go Connz).
    if (queryInt(q, 'cid') > 0) page.offset = 0;
    const answers = await this.primary.queries.ask<Json>('connz', workerQuery(q, page));
    return mergeConnz(answers, sort, page, this.serverId);
  }

  private async subsz(q: URLSearchParams): Promise<Json> {
    const page = queryBool(q, 'subs') ? pageOf(q) : undefined;
    const answers = await this.primary.queries.ask<Json>('subsz', page ? workerQuery(q, page) : q);
    return mergeSubsz(answers, page, this.serverId);
  }

  private async leafz(q: URLSearchParams): Promise<Json> {
    return mergeLeafz(await this.primary.queries.ask<Json>('leafz', q), this.serverId);
  }

  /** 503 while the gateway starts, drains or stops, and unless every worker is running and its own check passes. */
  private async health(): Promise<{ httpStatus: number; body: unknown }> {
    const p = this.primary;
    if (p.state !== 'running') return healthz(p.state);
    const answers = await p.queries.ask<{ httpStatus: number; body: Json }>(
      'healthz',
      new URLSearchParams(),
      WORKER_ANSWER_MS + HEALTH_CHECK_MS,
    );
    if (p.state !== 'running') return healthz(p.state);
    return mergeHealth(answers);
  }

  /** Every worker's series summed (prom-client's cluster aggregation), and how many workers answered. */
  private async metrics(): Promise<{ contentType: string; text: string }> {
    const answers = await this.primary.queries.ask<object[]>('metrics', new URLSearchParams());
    // Loaded on the first scrape: a gateway nobody scrapes never loads prom-client in the primary.
    const { AggregatorRegistry, Gauge, Registry } = await import('prom-client');
    const summed = AggregatorRegistry.aggregate<typeof Registry.PROMETHEUS_CONTENT_TYPE>(
      answers.answered.map((a) => a.body.map(gatewayAggregator)),
    );
    const own = new Registry();
    new Gauge({ name: `${P}workers`, help: 'Worker processes configured ([gateway] workers).', registers: [own] }).set(
      this.primary.config.gateway.workers,
    );
    new Gauge({
      name: `${P}workers_answering`,
      help: 'Worker processes whose series are in this scrape (the others are not running or did not answer in time).',
      registers: [own],
    }).set(answers.answered.length);
    const merged = Registry.merge([summed, own]);
    return { contentType: merged.contentType, text: await merged.metrics() };
  }
}

/** `up` is the gateway's, 1 only while every worker's is (summed, two workers up read 2). */
function gatewayAggregator(metric: object): object {
  return (metric as { name?: unknown }).name === `${P}up` ? { ...metric, aggregator: 'min' } : metric;
}

/** nats-server's paging (limit 0 or less: 1024; a negative offset: 0). */
function pageOf(q: URLSearchParams): Page {
  return queryPage(q, CONNZ_DEFAULT_LIMIT);
}

/**
 * The query each worker answers: the same, from offset 0, as many as the merged page could need (at most 2^53 - 1:
 * past it String() writes an exponent, which the worker's integer check would refuse, naming a limit nobody sent).
 */
function workerQuery(q: URLSearchParams, page: Page): URLSearchParams {
  const w = new URLSearchParams(q);
  w.set('offset', '0');
  w.set('limit', String(Math.min(page.offset + page.limit, Number.MAX_SAFE_INTEGER)));
  return w;
}
