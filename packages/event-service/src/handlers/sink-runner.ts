// The sinks as the handlers' life cycle drives them, whatever runs them: with SQLite the sink worker thread
// (sink-pool.ts: SinkPool is a SinkRunner), with a backend shared by several instances (JetStream) one pump per sink
// on the main thread over the backend's sink queue (SinkPumps, each a BackendSink: backend-sink.ts).
import type { SinkSettings } from './sink-pool.js';
import type { HttpSinkState } from './sinks/options.js';

/** One running sink's figures, as /handlerz and /metrics read them, and its control. */
export interface RunningSink {
  readonly name: string;
  readonly url: string;
  readonly state: HttpSinkState;
  readonly stats: { delivered: number; failedAttempts: number; retries: number; dead: number };
  readonly lastError: { at: number; message: string } | undefined;
  readonly lastDeliveredAt: number | undefined;
  /** After a dead-letter replay: runs again even after a 410, and looks for what is owed now. */
  resume(): void;
}

export interface SinkRunner {
  /** The running sinks, in the order they were added. */
  readonly sinks: readonly RunningSink[];
  add(settings: SinkSettings): void;
  /** Stops a sink: an attempt in flight is aborted and stays owed. */
  remove(name: string): void;
  /** New events were stored here: each sink delivers what is due now. */
  wake(): void;
  /** Each sink looks afresh for what is owed (a replay by another process). */
  recheck(): void;
  /** Why the sinks cannot be delivered to, for /healthz; undefined while they can. */
  health(): string | undefined;
  close(): Promise<void>;
}

/** A sink delivering from the backend's queue on this thread (BackendSink). */
export interface SinkPump extends RunningSink {
  /** Something may be owed now: look at once rather than at the next wait's end. */
  wake(): void;
  /** Stops claiming; unsettled claims are released (event-backend.ts SinkQueue close). */
  close(): void | Promise<void>;
}

export class SinkPumps implements SinkRunner {
  private readonly running: SinkPump[] = [];
  private readonly closing = new Set<Promise<void>>();

  constructor(
    /** Makes and starts a sink's pump. */
    private readonly create: (settings: SinkSettings) => SinkPump,
    private readonly onCloseError: (name: string, err: Error) => void,
  ) {}

  get sinks(): readonly RunningSink[] {
    return this.running;
  }

  add(settings: SinkSettings): void {
    this.running.push(this.create(settings));
  }

  remove(name: string): void {
    const i = this.running.findIndex((s) => s.name === name);
    if (i < 0) return;
    const [pump] = this.running.splice(i, 1);
    this.stop(pump!);
  }

  wake(): void {
    for (const p of this.running) p.wake();
  }

  recheck(): void {
    this.wake();
  }

  health(): string | undefined {
    return undefined;
  }

  /** Every pump stopped, its claims released (those removed before included). */
  async close(): Promise<void> {
    for (const p of this.running.splice(0)) this.stop(p);
    await Promise.all(this.closing);
  }

  private stop(pump: SinkPump): void {
    const done = (async () => {
      try {
        await pump.close();
      } catch (err) {
        this.onCloseError(pump.name, err as Error);
      }
    })();
    this.closing.add(done);
    void done.finally(() => this.closing.delete(done));
  }
}
