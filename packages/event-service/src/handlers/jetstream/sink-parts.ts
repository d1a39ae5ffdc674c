// The parts of the JetStream backend that belong to the sinks (sink-queue.ts: a sink's durable consumer;
// dead-letters.ts: dead letters, replay, counts), as backend.ts calls them. They are built beside the backend and
// join it at the merge, when this module becomes:
//   import { JetStreamSinkQueue } from './sink-queue.js';
//   import { deadLetters, replay, sinkCounts } from './dead-letters.js';
//   export const sinkParts: SinkParts = { sinkQueue: (deps, sink, opts) => new JetStreamSinkQueue(deps, sink, opts),
//     deadLetters, replay, sinkCounts };
// Until then each says it is missing rather than pretending.
import type { DeliveryRecord, SinkQueue, SinkQueueOptions } from '../event-backend.js';
import type { JetStreamDeps } from './deps.js';

export interface SinkParts {
  sinkQueue(deps: JetStreamDeps, sink: string, opts: SinkQueueOptions): SinkQueue;
  deadLetters(deps: JetStreamDeps, opts?: { sink?: string; after?: number; limit?: number }): Promise<DeliveryRecord[]>;
  replay(deps: JetStreamDeps, sink: string, ids?: readonly string[]): Promise<number>;
  sinkCounts(deps: JetStreamDeps, sink: string): Promise<{ pending: number; dead: number }>;
}

const missing = (what: string) => new Error(`the JetStream backend's ${what} is not built into this version yet`);

export const sinkParts: SinkParts = {
  sinkQueue: () => {
    throw missing('sink queue (sink-queue.ts)');
  },
  deadLetters: () => Promise.reject(missing('dead letters (dead-letters.ts)')),
  replay: () => Promise.reject(missing('replay (dead-letters.ts)')),
  sinkCounts: () => Promise.reject(missing('sink counts (dead-letters.ts)')),
};
