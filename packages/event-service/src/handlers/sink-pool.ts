// The HTTP sinks as the main thread sees them: they run in a worker thread (sink-worker.ts) with their own SQLite
// connection to the store's file, so delivery goes on while the intake commits on the store writer's thread
// (store-writer.ts) and the main thread serves the broker. This proxy starts
// the worker, passes it the sinks and the wake-ups, and keeps each sink's counters and last error as the worker
// reports them, for /handlerz and /metrics. What a sink does is sinks/http.ts's; the message protocol is below.
import { Worker } from 'node:worker_threads';
import type { Logger } from '@event-broker/shared';
import { backoffDelayMs } from '@event-broker/shared/backoff';
import type { HttpSinkOptions, HttpSinkState } from './sinks/options.js';
import { describeStoreProblem, storeCodeOf, storeProblem } from './store-file.js';

/** A sink's settings as the worker receives them: HttpSinkOptions without its functions. */
export type SinkSettings = Omit<HttpSinkOptions, 'logger' | 'onResolved' | 'onChange' | 'now' | 'random'>;

/** What the worker is started with (workerData). */
export interface SinkWorkerData {
  file: string;
  /** The store's held count, shared (store.ts SqliteStoreOptions.heldCounter). */
  heldCounter: Int32Array;
}

/** Main thread to worker. `id` names one sink instance: a replaced sink's late reports are not its successor's. */
export type ToWorker =
  | { t: 'add'; id: number; settings: SinkSettings }
  | { t: 'remove'; id: number }
  | { t: 'wake' }
  | { t: 'recheck' }
  | { t: 'resume'; id: number }
  | { t: 'close' };

/** One sink's figures since it started (HttpSink's public state). */
export interface SinkReport {
  id: number;
  state: HttpSinkState;
  stats: { delivered: number; failedAttempts: number; retries: number; dead: number };
  lastError: { at: number; message: string } | undefined;
  lastDeliveredAt: number | undefined;
}

/**
 * Worker to main thread: changed sinks (and whether deliveries resolved: room under event_limit), a log line, or
 * `closed` after a `close`: its sinks are closed (deliveries answered are marked) and so is its connection.
 */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'closed' }
  | { t: 'report'; sinks: SinkReport[]; resolved: boolean }
  | { t: 'log'; level: 'error' | 'warn'; obj: object; msg: string };

/** How long close() waits for the worker to record what was delivered: a shutdown is bounded. */
const CLOSE_WAIT_MS = 3000;
/**
 * A worker that died unexpectedly is started again after this, with the running sinks, doubled after each exit up
 * to RESTART_MAX_MS: one that fails at start-up (an unreadable store file) would otherwise restart every second.
 */
const RESTART_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before exiting was not crash-looping: the next restart waits RESTART_MS again. */
const RESTART_RESET_MS = 60_000;

/** One sink as index.ts uses it: the figures the worker last reported, and its controls. */
export class SinkProxy {
  state: HttpSinkState = 'running';
  stats: SinkReport['stats'] = { delivered: 0, failedAttempts: 0, retries: 0, dead: 0 };
  lastError: SinkReport['lastError'];
  lastDeliveredAt: number | undefined;

  constructor(
    readonly id: number,
    readonly settings: SinkSettings,
    private readonly pool: SinkPool,
  ) {}

  get name(): string {
    return this.settings.name;
  }
  get url(): string {
    return this.settings.url;
  }

  /** After a dead-letter replay: runs again even after a 410, and reads the store afresh. */
  resume(): void {
    this.pool.send({ t: 'resume', id: this.id });
  }
}

export interface SinkPoolOptions {
  /** The store's file; `:memory:` cannot be shared with a worker. */
  file: string;
  heldCounter: Int32Array;
  logger: Logger;
  /** Deliveries resolved (delivered or dead-lettered): the intake may resume paused publishers. */
  onResolved: () => void;
}

export class SinkPool {
  private worker: Worker | undefined;
  private readonly running: SinkProxy[] = [];
  private nextId = 1;
  /** close() was called: what it resolves with once the worker closed (or the wait ended). */
  private closing: Promise<void> | undefined;
  /** While close() waits: the worker said `closed`. */
  private onClosed: (() => void) | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Exits in a row, each within RESTART_RESET_MS of its start: the next restart's wait doubles with each. */
  private exits = 0;
  /** Why no worker runs, from an unexpected exit until a new one is ready (health()). */
  private down: { reason: string; restartAt: number } | undefined;

  constructor(private readonly opts: SinkPoolOptions) {}

  /** The running sinks, in the order they were added. */
  get sinks(): readonly SinkProxy[] {
    return this.running;
  }

  add(settings: SinkSettings): SinkProxy {
    const sink = new SinkProxy(this.nextId++, settings, this);
    this.running.push(sink);
    this.send({ t: 'add', id: sink.id, settings });
    return sink;
  }

  /** Stops a sink: an attempt in flight is aborted and stays pending, delivered ones are marked first. */
  remove(name: string): void {
    const i = this.running.findIndex((s) => s.name === name);
    if (i < 0) return;
    const [sink] = this.running.splice(i, 1);
    this.send({ t: 'remove', id: sink!.id });
  }

  /** New events were stored: each sink delivers what is due now. */
  wake(): void {
    if (this.running.length > 0) this.send({ t: 'wake' });
  }

  /** Every sink reads the store afresh (a replay by the CLI may have made older events pending). */
  recheck(): void {
    if (this.running.length > 0) this.send({ t: 'recheck' });
  }

  send(msg: ToWorker): void {
    // While a restart waits, the message is left to it: the new worker is sent every running sink (a sink added
    // since included, a removed one not) and each starts by reading the store, as a wake, recheck or resume would.
    // Starting a worker here instead would skip the backoff.
    if (this.closing !== undefined || this.restartTimer !== undefined) return;
    if (this.worker === undefined) {
      // The sinks already running go with the new worker (an add's sink is among them).
      this.spawn();
      if (msg.t === 'add') return;
    }
    this.worker!.postMessage(msg);
  }

  /**
   * Undefined while the sinks can be delivered to; else why not, for /healthz: the worker exited (with a store it
   * could not open by its code, never its file) and no new one is running yet.
   */
  health(): string | undefined {
    if (this.down === undefined || this.running.length === 0 || this.closing !== undefined) return undefined;
    const wait = this.down.restartAt - Date.now();
    return `sink worker cannot run: ${this.down.reason}; ${wait > 0 ? `restarting in ${wait} ms` : 'restarted, not running yet'}`;
  }

  /** Ends the worker as a crash would, for the restart's tests: resolves with its exit code. */
  terminateWorker(): Promise<number> {
    return this.worker?.terminate() ?? Promise.resolve(0);
  }

  /**
   * Stops the worker: it closes its sinks (deliveries answered are marked, attempts in flight abort and stay
   * pending) and its connection, and says `closed`. Resolves then, or after CLOSE_WAIT_MS at most, never blocking
   * the event loop meanwhile: the service's close awaits it, so what was delivered is marked before that resolves.
   * A mark not made by then means a redelivery after restart, same webhook-id (at least once).
   */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (worker === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const end = await new Promise<'closed' | 'exited' | 'timed-out'>((resolve) => {
      this.onClosed = () => resolve('closed');
      worker.once('exit', () => resolve('exited'));
      // Not unref'd: the worker is, and this wait (bounded) must not end with the process.
      timer = setTimeout(() => resolve('timed-out'), CLOSE_WAIT_MS);
      worker.postMessage({ t: 'close' } satisfies ToWorker);
    });
    clearTimeout(timer);
    this.onClosed = undefined;
    if (end === 'timed-out') {
      this.opts.logger.warn(
        { wait_ms: CLOSE_WAIT_MS },
        'sink worker did not close in time: unmarked deliveries go out again after restart',
      );
    } else if (end === 'exited') {
      this.opts.logger.warn({}, 'sink worker exited while closing: unmarked deliveries go out again after restart');
    }
    // Not awaited: a thread still inside a store call ends when that returns, and the close is bounded as it is.
    void worker.terminate();
  }

  /** Starts a worker and sends it every running sink, so a restarted one runs each sink once. */
  private spawn(): void {
    const data: SinkWorkerData = { file: this.opts.file, heldCounter: this.opts.heldCounter };
    const worker = new Worker(new URL('./sink-worker.js', import.meta.url), { workerData: data });
    // The service's open ports keep the process alive; a worker left running must not.
    worker.unref();
    const startedAt = Date.now();
    /**
     * What the worker threw, as /healthz may show it: a store it could not open, by its setting, code and a reason
     * without the file (store-file.ts storeProblem). Anything else it threw is the log's alone.
     */
    let failure: string | undefined;
    worker.on('message', (m: FromWorker) => this.receive(m));
    worker.on('error', (err) => {
      failure = storeCodeOf(err) === undefined ? undefined : `event store ${describeStoreProblem(storeProblem(err))}`;
      this.opts.logger.error({ err: err.message }, 'sink worker failed');
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      if (this.closing !== undefined) return;
      if (Date.now() - startedAt >= RESTART_RESET_MS) this.exits = 0;
      const restartMs = backoffDelayMs(this.exits + 1, { baseMs: RESTART_MS, capMs: RESTART_MAX_MS, jitter: 'none' });
      this.exits++;
      this.down = {
        reason: `exited (code ${code})${failure === undefined ? '' : `: ${failure}`}`,
        restartAt: Date.now() + restartMs,
      };
      // Deliveries stay pending in the store; a new worker takes them up with the same sinks.
      this.opts.logger.error({ code, restart_ms: restartMs }, 'sink worker exited: restarting');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.running.length > 0) this.spawn();
      }, restartMs);
    });
    this.worker = worker;
    for (const s of this.running) worker.postMessage({ t: 'add', id: s.id, settings: s.settings } satisfies ToWorker);
  }

  private receive(m: FromWorker): void {
    if (m.t === 'ready') {
      this.down = undefined;
      return;
    }
    if (m.t === 'closed') {
      this.onClosed?.();
      return;
    }
    if (m.t === 'log') {
      this.opts.logger[m.level](m.obj, m.msg);
      return;
    }
    for (const r of m.sinks) {
      const s = this.running.find((x) => x.id === r.id);
      if (s === undefined) continue; // removed or replaced since
      s.state = r.state;
      s.stats = r.stats;
      s.lastError = r.lastError;
      s.lastDeliveredAt = r.lastDeliveredAt;
    }
    if (m.resolved) this.opts.onResolved();
  }
}
