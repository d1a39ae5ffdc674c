// `[gateway] workers` > 1: the CLI runs several gateway processes sharing the client ports (node:cluster), so TLS
// handshakes and token checks use every core and never queue behind one process's message traffic. The gateway is
// stateless per client, so each worker is a whole EventGateway with its own uplink to the service.
//
// The primary owns the process: signals, the pid file, the configuration (shared/process/run.ts drives it as it
// drives a single gateway). It validates a reload before telling any worker (a bad file changes nothing anywhere),
// hands each worker its share of the configuration over IPC, forwards SIGHUP's configuration, SIGTERM's lame duck
// and SIGINT's close to every worker and waits for them, and replaces a worker that dies (logged; a replacement that
// cannot start is tried again, the wait doubling up to a minute). Workers ignore signals: a service manager that
// signals the whole process group would otherwise start two shutdowns.
//
// What each worker gets (workerConfig): the configuration, and a connection id space of its own (worker w of W: w, w + W, ...; a
// replacement continues far beyond, CID_SPAN), so a cid is unique across the gateway and over its life. No worker
// gets [monitor]: the primary serves the monitoring port and answers for every worker, asking each over the IPC
// channel (cluster-monitor.ts). max_connections is one budget for the whole gateway, held by the primary: a worker
// takes a slot from it as it accepts a socket, leasing a few ahead while far from the limit (cluster-slots.ts). The service's listener_limit and event
// credit are the service's budgets: each uplink draws on them like any leaf connection.
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import { createLogger, newServerId, type Logger, type ReloadPlan, type ServerState } from '@event-broker/shared';
import { GatewayAdmission } from './admission.js';
import { gatewayTlsOptions } from './auth/mtls.js';
import {
  PrimaryMonitor,
  WorkerQueries,
  answerMonitorQuery,
  type MonitorQuery,
  type MonitorReply,
  type PrimaryMonitorSource,
} from './cluster-monitor.js';
import { SlotBudget, WorkerSlots, type SlotGrant, type SlotRequest } from './cluster-slots.js';
import { planGatewayReload } from './config.js';
import type { GatewayConfig } from './config-types.js';
import { EventGateway } from './server.js';

/** A worker that died is forked again after this long (a crash loop costs one fork a second, not a spin). */
const REPLACE_DELAY_MS = 1000;
/**
 * A replacement that could not start (a certificate file broken since the last reload...) is tried again, each wait
 * twice the last, up to this: the worker comes back once the cause is mended, and a lasting cause costs one fork
 * (and one log line) a minute.
 */
const REPLACE_MAX_DELAY_MS = 60_000;
/**
 * Connections one worker process may number before its cids would reach those of its slot's next process: worker w
 * of W, its g-th process, numbers w + W * (g * CID_SPAN + k), so a replacement never reuses a cid of the one it
 * replaces (cids stay unique for the gateway's life, as nats-server's for its process's). Past 2^53 the generations
 * wrap.
 */
const CID_SPAN = 2 ** 32;
/** A worker that has not listened after this long is taken as failed (the port, a certificate...). */
const START_TIMEOUT_MS = 30_000;

/** Primary → worker. */
type ToWorker =
  | { type: 'start'; config: GatewayConfig; id: number; workers: number; cidFirst: number }
  | { type: 'reload'; config: GatewayConfig }
  | { type: 'lame-duck' }
  | { type: 'close' }
  | SlotGrant
  | MonitorQuery;
/** Worker → primary. */
type FromWorker =
  | { type: 'hello' }
  | { type: 'ready'; port: number; websocketPort?: number }
  | { type: 'failed'; err: string; code?: string }
  | SlotRequest
  | MonitorReply;

/** The ports every worker (and a replacement) binds: the file's, or for 0 one the primary found unused. */
interface BoundPorts {
  port: number;
  websocketPort?: number;
}

/**
 * What every worker runs with: `config` without [monitor], on the ports `bound` names (node:cluster shares a port 0
 * by the order of each worker's listen calls, which a worker's own other ports would upset).
 */
export function workerConfig(config: GatewayConfig, bound?: BoundPorts): GatewayConfig {
  const { monitor: _monitor, websocket, ...rest } = config;
  // max_connections stays the whole gateway's (the primary's budget: cluster-slots.ts), as each worker logs it.
  const gateway = {
    ...config.gateway,
    ...(bound !== undefined && { port: bound.port }),
  };
  const ws = websocket && bound?.websocketPort !== undefined ? { ...websocket, port: bound.websocketPort } : websocket;
  return {
    ...rest,
    gateway,
    ...(ws !== undefined && { websocket: ws }),
  };
}

/** The primary of a multi-process gateway, run by shared/process/run.ts as a single gateway is. */
export class GatewayPrimary implements PrimaryMonitorSource {
  /** The gateway's id on its monitoring port (each worker greets its clients with its own). */
  readonly serverId = newServerId();
  readonly startedAt = new Date();
  configLoadedAt = new Date();
  readonly queries: WorkerQueries;
  private readonly workers = new Map<number, Worker>();
  /** Processes forked so far for each worker id: the next one's cid space (CID_SPAN). */
  private readonly generations = new Map<number, number>();
  private lifecycle: ServerState = 'starting';
  /** What stop() told every worker: a worker still loading then (its hello comes later) is told the same. */
  private stopMsg: ToWorker | undefined;
  private monitor: PrimaryMonitor | undefined;
  private bound: BoundPorts | undefined;
  /** max_connections for the whole gateway, read on every ask (a reload reaches the next socket). */
  private readonly slots = new SlotBudget(
    () => this.config.gateway.max_connections,
    () => this.workerCount,
  );

  constructor(
    public config: GatewayConfig,
    private readonly logger: Logger,
  ) {
    // advanced: the configuration crosses as a structured clone, not JSON.
    cluster.setupPrimary({ serialization: 'advanced' });
    this.queries = new WorkerQueries(
      () => this.workers,
      () => this.workerCount,
    );
  }

  get workerCount(): number {
    return this.config.gateway.workers;
  }

  get state(): ServerState {
    return this.lifecycle;
  }

  /** The monitoring port's bound port, when [monitor] is on. */
  get monitorPort(): number | undefined {
    return this.monitor?.port;
  }

  private get stopping(): boolean {
    return this.lifecycle !== 'starting' && this.lifecycle !== 'running';
  }

  /** Forks every worker; resolves once all listen, rejects (the others stopped) when one cannot start. */
  async listen(): Promise<void> {
    const { gateway: g, websocket: ws, monitor } = this.config;
    if (monitor !== undefined) {
      // First, as a single gateway does: /healthz says 503 (starting) until every worker listens.
      this.monitor = new PrimaryMonitor(this, monitor, this.logger);
      await this.monitor.listen();
    }
    const wsPort = ws === undefined ? undefined : ws.port === 0 ? await unusedPort(ws.host) : ws.port;
    this.bound = {
      port: g.port === 0 ? await unusedPort(g.host) : g.port,
      ...(wsPort !== undefined && { websocketPort: wsPort }),
    };
    const started = [];
    for (let id = 1; id <= this.workerCount; id++) started.push(this.fork(id));
    const failed = (await Promise.allSettled(started)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.close();
      throw failed.reason as Error;
    }
    if (this.lifecycle === 'starting') this.lifecycle = 'running';
    this.logger.info({ workers: this.workerCount }, 'gateway workers started');
  }

  /** Validated here first (throws before any worker changes), then put in force in every worker. */
  applyConfig(next: GatewayConfig): ReloadPlan<GatewayConfig> {
    const plan = planGatewayReload(this.config, next);
    const previous = this.config.gateway.max_connections;
    // What EventGateway.applyConfig would throw on (key and certificate files), thrown before anything changes.
    new GatewayAdmission(plan.config, this.logger);
    gatewayTlsOptions(plan.config.tls);
    this.config = plan.config;
    this.configLoadedAt = new Date();
    if (this.logger.level !== plan.config.log.level) this.logger.level = plan.config.log.level;
    // Before the reload reaches the workers: each has given back its spares by the time it reloads.
    if (plan.config.gateway.max_connections !== previous) this.slots.limitChanged();
    const config = workerConfig(next, this.bound);
    for (const worker of this.workers.values()) send(worker, { type: 'reload', config });
    return plan;
  }

  /** SIGTERM: every worker drains (its own lame duck, in parallel); resolves when all have exited. */
  lameDuck(): Promise<void> {
    if (!this.stopping) this.lifecycle = 'draining';
    return this.stop({ type: 'lame-duck' });
  }

  /** SIGINT: every worker closes now, in order; resolves when all have exited. */
  close(): Promise<void> {
    return this.stop({ type: 'close' });
  }

  private async stop(msg: ToWorker): Promise<void> {
    if (this.lifecycle !== 'draining') this.lifecycle = 'closing';
    this.stopMsg ??= msg;
    const exited = [...this.workers.values()].map((w) => {
      const gone = new Promise<void>((resolve) => {
        if (w.isDead()) resolve();
        else w.once('exit', () => resolve());
      });
      send(w, msg);
      return gone;
    });
    await Promise.all(exited);
    this.lifecycle = 'closed';
    this.queries.close();
    // Last, so /healthz says 503 for as long as the shutdown takes.
    await this.monitor?.close();
    this.logger.info({ workers: exited.length }, 'gateway workers stopped');
  }

  private fork(id: number): Promise<void> {
    const worker = cluster.fork({ EVENT_GATEWAY_WORKER: String(id) });
    const cidFirst = this.cidFirst(id);
    this.workers.set(id, worker);
    const log = this.logger.child({ worker: id, pid: worker.process.pid });
    let ready = false;
    worker.on('exit', (code, signal) => {
      if (this.workers.get(id) === worker) this.workers.delete(id);
      this.slots.exited(worker);
      this.queries.exited(id);
      // One that never listened is its starter's to report (listen() or replace()).
      if (this.stopping || !ready) return;
      log.error({ code, signal }, 'gateway worker exited; replacing it');
      this.replace(id, REPLACE_DELAY_MS, log);
    });
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.kill('SIGKILL');
        reject(new Error(`gateway worker ${id} did not start within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'slot-ask' || msg.type === 'slot-release') return this.slots.handle(worker, msg);
        // A message sent before the worker listens for them would be lost: it says hello first.
        if (msg.type === 'hello') {
          // Forked before a SIGTERM or SIGINT it was too young to hear: it ends instead of starting.
          if (this.stopMsg !== undefined) return send(worker, { type: 'close' });
          const config = workerConfig(this.config, this.bound);
          send(worker, { type: 'start', config, id, workers: this.workerCount, cidFirst });
        } else if (msg.type === 'ready') {
          clearTimeout(timer);
          this.bound ??= {
            port: msg.port,
            ...(msg.websocketPort !== undefined && { websocketPort: msg.websocketPort }),
          };
          ready = true;
          resolve();
        } else if (msg.type === 'monitor-reply') {
          this.queries.replied(msg);
        } else if (msg.type === 'failed') {
          clearTimeout(timer);
          reject(Object.assign(new Error(msg.err), msg.code !== undefined ? { code: msg.code } : {}));
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`gateway worker ${id} exited before listening (${signal ?? code})`));
      });
    });
  }

  /** The first cid of worker `id`'s next process (CID_SPAN). */
  private cidFirst(id: number): number {
    const w = this.workerCount;
    const generation = this.generations.get(id) ?? 0;
    this.generations.set(id, (generation + 1) % Math.floor(Number.MAX_SAFE_INTEGER / (w * CID_SPAN)));
    return id + w * CID_SPAN * generation;
  }

  /** Forks worker `id` again after `delayMs`; a replacement that cannot start is tried again, each wait doubled. */
  private replace(id: number, delayMs: number, log: Logger): void {
    setTimeout(() => {
      if (this.stopping) return;
      this.fork(id).then(
        () => log.info('gateway worker replaced'),
        (err: Error) => {
          if (this.stopping) return;
          const retry = Math.min(delayMs * 2, REPLACE_MAX_DELAY_MS);
          log.error({ err: err.message, retry_ms: retry }, 'gateway worker could not be replaced');
          this.replace(id, retry, log);
        },
      );
    }, delayMs).unref();
  }
}

/**
 * A port nothing listens on now, for a file's port 0. Another process could take it before the workers bind it:
 * they would then fail to start, as with a configured port in use.
 */
function unusedPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function send(worker: Worker, msg: ToWorker): void {
  if (worker.isConnected()) worker.send(msg);
}

/** A worker's whole life: a gateway from the primary's configuration, driven by the primary's messages. */
export function runWorker(): void {
  // The primary relays every signal that means something; one sent to the whole process group is not acted on twice.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => {});
  let gateway: EventGateway | undefined;
  let logger: Logger | undefined;
  const exit = (code: number) => setTimeout(() => process.exit(code), 50).unref();
  const end = (how: 'lame-duck' | 'close') => {
    const g = gateway;
    if (g === undefined) return exit(0);
    (how === 'lame-duck' ? g.lameDuck() : g.close()).then(
      () => exit(0),
      (err: Error) => {
        logger?.error({ err: err.message }, 'error while shutting down');
        exit(1);
      },
    );
  };
  const failed = (err: Error) => {
    const code = (err as { code?: unknown }).code;
    logger?.fatal({ err: err.message, ...(typeof code === 'string' && { code }) }, 'cannot start');
    process.send?.({
      type: 'failed',
      err: err.message,
      ...(typeof code === 'string' && { code }),
    } satisfies FromWorker);
    exit(1);
  };
  const slots = new WorkerSlots();
  // The primary is gone (killed): nobody will relay a signal again, so close.
  process.on('disconnect', () => {
    slots.disconnected();
    end('close');
  });
  process.send?.({ type: 'hello' } satisfies FromWorker);
  process.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'slot':
      case 'slot-reclaim':
        slots.answered(msg);
        return;
      case 'start': {
        const c = msg.config;
        logger = createLogger({ format: c.log.format, level: c.log.level, name: 'event-gateway' }).child({
          worker: msg.id,
        });
        let g: EventGateway;
        try {
          g = new EventGateway(c, logger, { cids: { first: msg.cidFirst, step: msg.workers }, slots });
        } catch (err) {
          // A certificate or key file that cannot be used: reported as listen() failures are, not as a crash.
          return failed(err as Error);
        }
        gateway = g;
        g.listen().then(() => {
          const ws = g.websocketPort;
          process.send?.({
            type: 'ready',
            port: g.port,
            ...(ws !== undefined && { websocketPort: ws }),
          } satisfies FromWorker);
        }, failed);
        return;
      }
      case 'reload':
        try {
          gateway?.applyConfig(msg.config);
        } catch (err) {
          // The primary checked the same files a moment ago: only a file changed in between gets here.
          logger?.error({ err: (err as Error).message }, 'configuration reload failed in this worker');
        }
        return;
      case 'lame-duck':
      case 'close':
        end(msg.type);
        return;
      case 'monitor':
        void answerMonitorQuery(gateway?.monitorViews, msg, logger).then((reply) => {
          if (process.connected) process.send?.(reply satisfies FromWorker);
        });
        return;
    }
  });
}
