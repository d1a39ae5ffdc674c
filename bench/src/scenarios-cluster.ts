// Issue 13's rows: the leaf path (a client of a nats-server node to a subscriber on a leaf of it: our service, or a
// nats-server leaf in its place; leaf.ts) and the durable intake on the JetStream backend (R1, R3, two instances on
// R3; events-jetstream.ts), beside the SQLite rows of scenarios-events.ts. Opt-in until the service's leaf remotes
// and JetStream backend are on main: `--scenario leaf` (or `--only nats-server` for the nats-server half alone),
// `--scenario events-js-r1,events-js-r3,events-js-r3-x2`.
import type { GenResult, Scenario } from './scenario-types.js';
import { fmtRate, load, lossNotes, noLoss, sentRate } from './scenario-parts.js';
import { deliveredRate, eventsLoad, intakeNotes } from './scenarios-events.js';

// The 1→1 row's 16 B, as the gateway row. nats-server's leaf path here: ~1 M/s idle on the 2-core machine; 1.5 M
// keeps a slower side within the 5 s cap.
const LEAF_COUNT = 1_500_000;

export const leaf: Scenario = {
  name: 'leaf',
  kind: 'leaf',
  spec: (quick) => load(quick, 'fanout', 16, LEAF_COUNT, { subs: 1 }),
  metrics: [
    {
      label: '1→1 16 B, client of a nats-server node → subscriber on its leaf (ours: the service dials it as a leaf)',
      unit: 'msgs/s',
      better: 'higher',
      format: fmtRate,
      value: (r) => (r.received ?? 0) / (r.window_ns / 1e9),
    },
  ],
  check: noLoss,
  notes: (r) => [...lossNotes(r), cpuParts(r)],
};

/** The cell's server CPU by process (hub, leaf, instances, nodes). */
function cpuParts(r: GenResult): string {
  const parts = Object.entries(r.server_cpu_parts ?? {}).map(([k, v]) => `${k} ${v.toFixed(2)} s`);
  return `server CPU = ${parts.join(' + ')}`;
}

/** Acknowledged (after the PubAck) and delivered events/s, the sink taking `batch` events per POST. */
function jetStreamEvents(name: string, replicas: number, instances: number, batch = 100): Scenario {
  const who = instances === 1 ? 'one instance' : `${instances} instances`;
  return {
    name,
    kind: 'events-jetstream',
    spec: (quick) => eventsLoad(quick, { batch, replicas, instances }),
    metrics: [
      {
        label: `events acked (JetStream R${replicas} PubAck) 1 KiB, ${who}, ours only (sink: batch_size ${batch})`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: sentRate,
      },
      {
        label: `events delivered to a node:http sink, JetStream R${replicas}, ${who} (batch_size ${batch})`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: deliveredRate,
      },
    ],
    // Unlike the SQLite rows' unbatched sinks, nothing here is slow by design: acknowledged events still owed after
    // the drain bound mean delivery stalled, a failure (they are not lost: the stream and the consumer keep them).
    check: (r) =>
      (r.timeouts ?? 0) > 0
        ? `${r.timeouts} request(s) unanswered`
        : (r.lost ?? 0) > 0
          ? `${r.lost} of ${r.expected} acknowledged events not delivered within the 30 s drain bound`
          : undefined,
    notes: (r) => [
      'nats-server has no durable event intake or HTTP sink: no figure, no ratio; compare with events-batch (SQLite)',
      'producer: a client of node n3 of a three-node nats-server cluster',
      cpuParts(r),
      ...intakeNotes(r),
    ],
  };
}

export const eventsJsR1 = jetStreamEvents('events-js-r1', 1, 1);
export const eventsJsR3 = jetStreamEvents('events-js-r3', 3, 1);
export const eventsJsR3x2 = jetStreamEvents('events-js-r3-x2', 3, 2);
