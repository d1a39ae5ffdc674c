// What the JetStream backend's parts share (backend.ts: the stream, appends, reads; sink-queue.ts: a sink's durable
// consumer; dead-letters.ts: dead letters, replay, counts): one connection to the service's broker, whose `$JS.API`
// requests reach the cluster over the leaf remotes, with the JetStream domain already chosen.
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import type { Logger } from '@event-broker/shared';
import type { StreamLayout } from './layout.js';

export interface JetStreamDeps {
  readonly nc: NatsConnection;
  /** Made with the chosen domain (`{ domain }` when one is used). */
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly layout: StreamLayout;
  readonly logger: Logger;
  /** Called after a delivery settles (acked, dead) or a replay, so the backend re-reads `held` soon. */
  readonly settled: () => void;
}
