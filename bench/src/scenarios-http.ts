// The `events-http` scenarios (issue 14): the durable intake fed over HTTP, one structured event a POST and batches
// of 100, to read beside `events`' NATS acked/s (same service, same store, same 1 KiB events). events-http.ts runs them.
import type { Scenario } from './scenario-types.js';
import { deliveredRate, intakeNotes } from './scenarios-events.js';
import { fmtRate, q, sentRate } from './scenario-parts.js';

export function eventsHttpScenario(name: string, perPost: number): Scenario {
  const how = perPost > 1 ? `batches of ${perPost} (cloudevents-batch+json)` : 'structured, 1 per POST';
  return {
    name,
    kind: 'events-http',
    spec: (quick) => ({
      mode: 'requests',
      size: 1024,
      count: q(quick, perPost > 1 ? 200_000 : 100_000),
      warmup: q(quick, 5_000),
      inflight: perPost > 1 ? 8 : 256,
      batch: perPost,
      capMs: quick ? 2000 : 5000,
    }),
    metrics: [
      {
        label: `HTTP intake events acked (stored, fsynced) 1 KiB, ${how}, keep-alive; ours only (NATS: events)`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: sentRate,
      },
      {
        label: `events delivered to a node:http sink (batch_size 100)`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: deliveredRate,
      },
    ],
    check: (r) => ((r.timeouts ?? 0) > 0 ? `${r.timeouts} event(s) unanswered` : undefined),
    notes: (r) => [
      'nats-server has no HTTP intake: no figure, no ratio; compare with the `events` row (NATS requests)',
      ...((r.lost ?? 0) > 0
        ? [`${r.lost} of ${r.expected} acknowledged events still pending after the drain bound`]
        : []),
      ...intakeNotes(r),
    ],
  };
}
