// The `events` scenarios and their variants (a batching sink, a sink with POSTs in parallel), built by one function
// with the figures and notes they share. events.ts runs them.
import type { GenSpec } from './load-spec.js';
import type { GenResult, Metric, Scenario } from './scenario-types.js';
import { fmtRate, q, sentRate } from './scenario-parts.js';

// `events` (events.ts): our durable intake and one HTTP sink taking `batch` events per POST; ours only.
export function eventsScenario(
  name: string,
  batch: number,
  maxInFlight = 1,
  receiver: 'http' | 'grpc' = 'http',
): Scenario {
  const per = receiver === 'grpc' ? 'call' : 'POST';
  const sink =
    batch > 1 ? `batch_size ${batch}` : maxInFlight > 1 ? `1 per ${per}, ${maxInFlight} at once` : `1 per ${per}`;
  return {
    name,
    kind: 'events',
    spec: (quick) => eventsLoad(quick, { batch, maxInFlight, ...(receiver === 'grpc' && { sink: 'grpc' as const }) }),
    metrics: [
      {
        label: `events acked (stored, fsynced) 1 KiB, ours only (sink: ${sink})`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: sentRate,
      },
      {
        label: `events delivered to a ${receiver === 'grpc' ? 'grpc:// (grpc-js)' : 'node:http'} sink (${sink})`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: deliveredRate,
      },
    ],
    // Undelivered after the drain bound is slowness, not loss (the events stay pending in the store): a note.
    check: (r) => ((r.timeouts ?? 0) > 0 ? `${r.timeouts} request(s) unanswered` : undefined),
    notes: (r) => [
      'nats-server has no durable event intake or HTTP sink: no figure, no ratio',
      ...((r.lost ?? 0) > 0
        ? [`${r.lost} of ${r.expected} acknowledged events still pending after the 30 s drain bound`]
        : []),
      ...intakeNotes(r),
      ...(batch > 1 && r.batch_posts === 0
        ? [`batch_size ${batch} not applied by the service: every POST carried one event`]
        : []),
    ],
  };
}

// `events-intake`: the store alone, no sink: what the intake acknowledges when no delivery shares the two cores (the
// events rows above run a sink's worker and its receiver beside it).
export function eventsIntakeScenario(name: string): Scenario {
  return {
    name,
    kind: 'events',
    spec: (quick) => eventsLoad(quick, { sink: 'none' }),
    metrics: [
      {
        label: 'events acked (stored, fsynced) 1 KiB, ours only (no sink)',
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: sentRate,
      },
    ],
    check: (r) => ((r.timeouts ?? 0) > 0 ? `${r.timeouts} request(s) unanswered` : undefined),
    notes: (r) => [
      'nats-server has no durable event intake: no figure, no ratio',
      ...((r.refused ?? 0) > 0 ? [`${r.refused} request(s) refused`] : []),
    ],
  };
}

// How far delivery was behind when the intake ended, in events and in time at the intake's rate.
function backlogNote(r: GenResult): string {
  const backlog = r.backlog_at_end ?? 0;
  const ms = r.sent ? (backlog / (r.sent / (r.window_ns / 1e9))) * 1000 : NaN;
  return `backlog when intake ended: ${backlog} of ${r.sent ?? '?'} (${ms.toFixed(0)} ms of intake), drained ${((r.drain_ns ?? 0) / 1e9).toFixed(2)} s later`;
}

/** The events rows' load (SQLite and JetStream): 1 KiB events by request, 512 in flight; `extra` names the sink. */
export function eventsLoad(quick: boolean, extra: Partial<GenSpec>): GenSpec {
  return {
    mode: 'requests',
    size: 1024,
    count: q(quick, 200_000),
    warmup: q(quick, 5_000),
    inflight: 512,
    ...extra,
    capMs: quick ? 2000 : 5000,
  };
}

/** Events/s delivered to the sink, over the delivery span (not the intake window). */
export const deliveredRate: Metric['value'] = (r) => (r.received ?? 0) / ((r.delivery_ns ?? NaN) / 1e9);

/** The notes every events row adds after its own: the backlog, then refusals, redeliveries and a time cap hit. */
export function intakeNotes(r: GenResult): string[] {
  return [
    backlogNote(r),
    ...((r.refused ?? 0) > 0 ? [`${r.refused} request(s) refused`] : []),
    ...((r.redelivered ?? 0) > 0 ? [`${r.redelivered} event(s) delivered again (same webhook-id)`] : []),
    ...(r.capped ? [`time cap hit: ${r.requests} requests`] : []),
  ];
}
