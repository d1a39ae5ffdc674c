// What /healthz says of the event store (lifecycle.ts health): whether it can be opened, whether its file is still
// the one opened (SQLite), and, after a group commit failed, whether it works again, known by a probe (a one-row
// commit where the intake commits; a network backend's last sequence read) so a service with no traffic to prove it
// (a load balancer took it out on a 503) does not stay unhealthy for good.
import type { Logger } from '@event-broker/shared';
import type { EventBackend } from './event-backend.js';
import type { EventIntake } from './intake.js';
import { SqliteBackend } from './sqlite-backend.js';
import { describeStoreProblem, storeProblem } from './store-file.js';
import type { SqliteEventStore } from './store.js';

/** How long /healthz waits for the probe commit that tells whether a store that failed a commit works again. */
const PROBE_MS = 2000;

export interface StoreHealthOptions {
  /** The backend; throws while it cannot be opened. */
  backend: () => EventBackend;
  backendOpen: () => boolean;
  /** SQLite's store once opened: its file is checked. */
  sqlite: () => SqliteEventStore | undefined;
  intake: EventIntake;
  logger: Logger;
}

export class StoreHealth {
  /** A probe commit in flight. */
  private probe: Promise<boolean> | undefined;
  /** What check() last logged of the store, so a polled /healthz logs a problem once, not per request. */
  private loggedStoreProblem: string | undefined;

  constructor(private readonly opts: StoreHealthOptions) {}

  /**
   * Why the store cannot work now, as an HTTP client of /healthz may read it: which part, the setting, a reason
   * and the store's code, never the file or SQLite's message (anyone reaching the monitoring port would learn the
   * server's file layout). Those go to the log, once each time the answer changes.
   */
  async check(): Promise<string | undefined> {
    let found: { what: string; err: unknown } | undefined;
    if (!this.opts.backendOpen()) {
      try {
        void this.opts.backend();
      } catch (err) {
        found = { what: 'event store cannot be opened', err };
      }
    }
    if (this.opts.backendOpen()) {
      try {
        this.opts.sqlite()?.verifyFile();
      } catch (err) {
        found = { what: 'event store unusable', err };
      }
      const failure = this.opts.intake.lastStoreFailure;
      if (found === undefined && failure !== undefined && !(await this.probeStore())) {
        found = { what: `event store commits fail (since ${new Date(failure.at).toISOString()})`, err: failure.error };
      }
    }
    if (found === undefined) {
      this.loggedStoreProblem = undefined;
      return undefined;
    }
    const problem = storeProblem(found.err);
    const text = `${found.what}: ${describeStoreProblem(problem)}`;
    if (text !== this.loggedStoreProblem) {
      this.loggedStoreProblem = text;
      this.opts.logger.error(
        { health: found.what, store_code: problem.store_code, err: (found.err as Error).message },
        'event store unavailable',
      );
    }
    return text;
  }

  /** One small commit where the intake commits (store.ts probe): true when it succeeded (the failure is then cleared). */
  private probeStore(): Promise<boolean> {
    this.probe ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const backend = this.opts.backend();
        const commit = backend instanceof SqliteBackend ? backend.probe() : backend.lastSeq();
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_MS} ms`)), PROBE_MS);
        });
        await Promise.race([commit, timeout]);
        this.opts.intake.clearStoreFailure();
        return true;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
        this.probe = undefined;
      }
    })();
    return this.probe;
  }
}
