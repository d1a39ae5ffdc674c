// The subjects the JetStream store's traffic uses, reserved to the service's own connections (shared
// server/reserved.ts): the store's `nats` client reaches the hub through this broker and its leaf remotes, so without
// this any client of the public ports could read the events on their way to the stream, answer the store's requests
// before the hub, write into the stream past the intake, and call the hub's JetStream API on the store's streams with
// the service's leaf identity. Set at start from `[store] backend` and `stream` (restart-only keys).
//
// Reserved: everything under `eventstore.` (the streams' subjects, layout.ts, and the store client's inbox prefix,
// so the PubAcks, API answers and pull deliveries it receives); and every JetStream API, ack, flow-control and
// advisory subject that names one of the two streams, plain (`$JS.API.`) and in any domain (`$JS.<domain>.API.`, the
// domain being `[store] domain` or whichever the hub announces). The API subjects are nats-server 2.9's
// (jetstream_api.go, stream.go): the stream name is the token after the operation; consumer operations add the
// consumer name and, for a 2.9 create, a filter after it. `$JS.EVENT.ADVISORY.API` is reserved whole: its audit
// records carry API answers (a STREAM.MSG.GET's message), and name no stream in their subject.
import { randomBytes } from 'node:crypto';
import { streamLayout } from './layout.js';

/** The first token of every stream subject (layout.ts) and of the store client's inboxes. */
const STORE_ROOT = 'eventstore';

/** The store client's inbox prefix (nats.js `inboxPrefix`): under the reserved root, random per process. */
export function storeInboxPrefix(): string {
  return `${STORE_ROOT}.inbox.${randomBytes(12).toString('hex')}`;
}

/** The operations of `$JS.API.STREAM.<op>.<stream>`. */
const STREAM_OPS = ['CREATE', 'UPDATE', 'INFO', 'DELETE', 'PURGE', 'SNAPSHOT', 'RESTORE', 'MSG.GET', 'MSG.DELETE'];
const STREAM_CLUSTER_OPS = ['PEER.REMOVE', 'LEADER.STEPDOWN'];
/**
 * The operations of `$JS.API.CONSUMER.<op>.<stream>[.<consumer>...]`, named one by one: a wildcard op would also
 * reserve another stream's subjects when the store's stream is called NEXT or CREATE.
 */
const CONSUMER_OPS = ['CREATE', 'NAMES', 'LIST', 'INFO', 'DELETE', 'DURABLE.CREATE', 'MSG.NEXT', 'LEADER.STEPDOWN'];

/** The reserved patterns for the store of events stream `stream` (its dead letters' stream is `<stream>_DEAD`). */
export function storeReservedSubjects(stream: string): string[] {
  const layout = streamLayout(stream);
  const out = [`${STORE_ROOT}.>`];
  for (const s of [layout.stream, layout.deadStream]) {
    for (const api of ['$JS.API', '$JS.*.API']) {
      for (const op of [...STREAM_OPS, ...STREAM_CLUSTER_OPS]) out.push(`${api}.STREAM.${op}.${s}`);
      out.push(`${api}.DIRECT.GET.${s}`, `${api}.DIRECT.GET.${s}.>`);
      // With and without what follows the stream (a consumer, 2.9's create filter).
      for (const op of CONSUMER_OPS) out.push(`${api}.CONSUMER.${op}.${s}`, `${api}.CONSUMER.${op}.${s}.>`);
    }
    // Acks: v1 `$JS.ACK.<stream>.<consumer>...`, v2 `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>...`.
    out.push(`$JS.ACK.${s}.>`, `$JS.ACK.*.*.${s}.>`);
    out.push(`$JS.FC.${s}.>`);
    out.push(`$JS.SNAPSHOT.ACK.${s}.>`, `$JS.SNAPSHOT.RESTORE.${s}.>`);
    out.push(`$JS.EVENT.ADVISORY.STREAM.*.${s}`, `$JS.EVENT.ADVISORY.CONSUMER.*.${s}.>`);
    out.push(`$JS.EVENT.METRIC.CONSUMER.ACK.${s}.>`);
  }
  out.push('$JS.EVENT.ADVISORY.API');
  return out;
}
