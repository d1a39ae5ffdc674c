// The core messaging scenarios: publish, 1→1, fan-out, queue group, request/reply latency, large payloads, the
// in-process API, a large interest graph, and the TLS gateway path. The same generator load for both servers.
import type { GenResult, Metric, Scenario } from './scenario-types.js';
import { fmtFixed, fmtRate, load, lossNotes, noLoss, q, received, seconds, sentRate } from './scenario-parts.js';

// The gateway path on the 2-core machine (2026-11-30): ours 0.6-0.9 M/s idle, 0.35-0.5 M/s while other work ran;
// nats-server's leaf → hub 1.1-1.5 M/s (0.5-0.8 M/s). 1.5 M keeps ours within the 5 s cap even then, and the
// whole scenario (both sides, PKI and four processes started) at ~8 s idle, under 20 s busy: a default scenario.
const GATEWAY_COUNT = 1_500_000;

function latency(which: string, pick: (r: GenResult) => number | undefined): Metric {
  const value = (r: GenResult) => pick(r) ?? NaN;
  return { label: `request/reply (sequential) ${which}`, unit: 'µs', better: 'lower', format: fmtFixed(0), value };
}

export const pub: Scenario = {
  name: 'pub',
  kind: 'generator',
  spec: (quick) => load(quick, 'pub', 16, 10_000_000),
  metrics: [{ label: 'publish-only 16 B', unit: 'msgs/s', better: 'higher', format: fmtRate, value: sentRate }],
  notes: lossNotes,
};

export const pubsub: Scenario = {
  name: 'pubsub',
  kind: 'generator',
  spec: (quick) => load(quick, 'fanout', 16, 5_000_000, { subs: 1 }),
  metrics: [{ label: '1→1 16 B, received', unit: 'msgs/s', better: 'higher', format: fmtRate, value: received }],
  check: noLoss,
  notes: lossNotes,
};

export const fanout: Scenario = {
  name: 'fanout',
  kind: 'generator',
  spec: (quick) => load(quick, 'fanout', 128, 1_500_000, { subs: 4 }),
  metrics: [
    { label: '1→4 fan-out 128 B, delivered', unit: 'msgs/s', better: 'higher', format: fmtRate, value: received },
  ],
  notes: lossNotes,
};

export const queue: Scenario = {
  name: 'queue',
  kind: 'generator',
  spec: (quick) => load(quick, 'fanout', 128, 3_000_000, { subs: 4, queue: true }),
  metrics: [{ label: 'queue group of 4, 128 B', unit: 'msgs/s', better: 'higher', format: fmtRate, value: received }],
  notes: (r) => [
    ...lossNotes(r),
    ...(r.per_sub_min !== undefined && r.per_sub_min === 0 ? ['a queue member got nothing'] : []),
  ],
};

export const reqrep: Scenario = {
  name: 'reqrep',
  kind: 'generator',
  spec: (quick) => load(quick, 'reqrep', 16, 20_000),
  metrics: [latency('p50', (r) => r.p50_us), latency('p99', (r) => r.p99_us)],
  check: (r) => ((r.timeouts ?? 0) > 0 ? `${r.timeouts} request(s) timed out` : undefined),
  notes: (r) => (r.capped ? [`time cap hit: ${r.requests} requests`] : []),
};

export const payload64k: Scenario = {
  name: 'payload-64k',
  kind: 'generator',
  spec: (quick) => load(quick, 'fanout', 65536, 10_000, { subs: 1 }),
  metrics: [
    {
      label: '1→1 64 KiB payloads',
      unit: 'MB/s',
      better: 'higher',
      format: fmtFixed(0),
      value: (r) => ((r.received ?? 0) * (r.size ?? 0)) / 1e6 / seconds(r),
    },
  ],
  check: noLoss,
  notes: lossNotes,
};

// The cost curves' mid-size point (curves-defs.ts payloadCurve): 256 B, 1→1, where ours spent more CPU per message
// than nats-server (issue 16). Counts as the curve's: ~1-3 M/s for both, so 3 M fills the 5 s cap at worst.
export const payload256: Scenario = {
  name: 'payload-256',
  kind: 'generator',
  spec: (quick) => load(quick, 'fanout', 256, 3_000_000, { subs: 1 }),
  metrics: [{ label: '1→1 256 B, received', unit: 'msgs/s', better: 'higher', format: fmtRate, value: received }],
  check: noLoss,
  notes: lossNotes,
};

export const inproc: Scenario = {
  name: 'inproc',
  kind: 'inproc',
  comparedWith: 'pubsub',
  // 20 M: at ~15-20 M/s on the 2-core machine (2026-11-30) 5 M gave a window of 0.2-0.3 s, too short to trust.
  spec: (quick) => load(quick, 'fanout', 16, 20_000_000, { subs: 1 }),
  metrics: [
    {
      label: '1→1 16 B in-process (nats-server: loopback)',
      unit: 'msgs/s',
      better: 'higher',
      format: fmtRate,
      value: received,
    },
  ],
  check: noLoss,
  notes: lossNotes,
};

export const subs100k: Scenario = {
  name: 'subs-100k',
  kind: 'generator',
  // 10 connections × 10,000 subjects = 100,000 SUBs, 30% with a wildcard; publishes cycle through the subjects
  // (native/loadgen.c run_subs says why that shape). Counts: nats-server takes ~2 s here.
  spec: (quick) => load(quick, 'subs', 16, 150_000, { subs: 10, subjects: 10_000, warmup: q(quick, 20_000) }),
  metrics: [
    {
      label: '100,000 subs over 10,000 subjects (30% wildcard), published + delivered',
      unit: 'msgs/s',
      better: 'higher',
      format: fmtRate,
      value: (r) => ((r.sent ?? 0) + (r.received ?? 0)) / seconds(r),
    },
    {
      label: '100,000 SUBs registered (10 conns, SUB storm → PONG)',
      unit: 'ms',
      better: 'lower',
      format: fmtFixed(0),
      value: (r) => (r.setup_ns ?? NaN) / 1e6,
    },
  ],
  check: noLoss,
  notes: lossNotes,
  // listener_limit (default 10,000) bounds subscriptions service-wide; nats-server has no such limit.
  ours: { listener_limit: 200_000 },
};

export const gateway: Scenario = {
  name: 'gateway',
  kind: 'gateway',
  // Publisher with a client certificate and a token over TLS into the gateway (nats-server: a leaf), a TLS
  // leafnode link, the subscriber on the service's (hub's) plain port. 16 B, as the 1→1 row.
  spec: (quick) => load(quick, 'fanout', 16, GATEWAY_COUNT, { subs: 1 }),
  metrics: [
    {
      label: '1→1 16 B via TLS gateway → service (nats-server: TLS leaf → hub)',
      unit: 'msgs/s',
      better: 'higher',
      format: fmtRate,
      value: received,
    },
  ],
  check: noLoss,
  notes: (r) => [
    ...lossNotes(r),
    `publisher ${r.publisher ?? '?'} over TLS, subscriber ${r.generator === 'c-libnats' ? 'libnats' : 'raw'}; ` +
      'server CPU = ' +
      Object.entries(r.server_cpu_parts ?? {})
        .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
        .join(' + '),
  ],
};
