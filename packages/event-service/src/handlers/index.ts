// The event handlers' life cycle inside a running service: the durable store (opened on first use, or at start
// when a store file already exists, so a restarted service finds what it held) and the intake on `events.>`.
// Started by EventServer.listen once the listeners are up; stopped first on close so pending requests are answered.
import fs from 'node:fs';
import type { Logger } from '@event-broker/shared';
import { embed } from '../embedded.js';
import type { EventServer } from '../server.js';
import { EventIntake } from './intake.js';
import { SqliteEventStore, type EventStore } from './store.js';

export class EventHandlers {
  private opened: EventStore | undefined;
  readonly intake: EventIntake;

  constructor(
    private readonly server: EventServer,
    private readonly logger: Logger,
  ) {
    // The in-process connection; its handle's close() would close the server, so only publish/subscribe are used.
    const conn = embed(server, logger);
    this.intake = new EventIntake(conn, {
      store: () => this.store,
      eventLimit: () => this.server.config.service.event_limit,
      // No sinks yet: events are stored, held by nothing. [handlers] sinks add their names here.
      sinksFor: () => [],
      logger,
    });
  }

  /** The store, opened (and created) on first use. */
  get store(): EventStore {
    if (this.opened === undefined) {
      const file = this.storePath;
      this.opened = new SqliteEventStore(file);
      this.logger.info({ path: file, events: this.opened.count(), held: this.opened.held }, 'event store open');
    }
    return this.opened;
  }

  private get storePath(): string {
    const store = this.server.config.store;
    if (store === undefined) throw new Error('event handlers started without [store]');
    return store.path;
  }

  start(): void {
    if (fs.existsSync(this.storePath)) void this.store;
    this.intake.start();
  }

  close(): void {
    this.intake.stop();
    this.opened?.close();
  }
}

export function startHandlers(server: EventServer, logger: Logger): EventHandlers {
  const h = new EventHandlers(server, logger);
  h.start();
  return h;
}
